"""Start a throwaway 3-master Redis Cluster on loopback for the tests.

Everything is bounded in time and stays on 127.0.0.1: three ``redis-server``
processes on free ports, no persistence, their files in a temporary directory
that ``stop()`` removes with them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

HOST = "127.0.0.1"


def free_ports(n: int = 1) -> list[int]:
    """``n`` distinct TCP ports on loopback that nobody listens on right now."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:  # all bound at once, so the OS hands out distinct ports
            s.bind((HOST, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A TCP port on loopback that nobody listens on right now."""
    return free_ports(1)[0]


def start_server(port: int, directory: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``redis-server`` on ``HOST:port`` with its files in ``directory``."""
    return subprocess.Popen(
        [
            "redis-server",
            "--bind",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(
    port: int, process: subprocess.Popen[bytes], timeout: float = 10.0, command: str = "PING"
) -> str:
    """Wait until the server on ``port`` answers ``command``; its answer.

    :raises RuntimeError: if it exits or does not answer within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {process.returncode}")
        try:
            answer = cli(port, *command.split(), timeout=2)
        except RuntimeError:
            answer = None
        if answer is not None and not answer.startswith("LOADING"):  # LOADING: reading its AOF
            return answer
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not answer within {timeout} s")
        time.sleep(0.05)


def cli(port: int, *args: str, timeout: float = 5) -> str:
    """Run ``redis-cli -p port args...``; its output. RuntimeError if it fails."""
    try:
        done = subprocess.run(
            ["redis-cli", "-h", HOST, "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"redis-cli {' '.join(args)}: no answer within {timeout} s") from e
    if done.returncode != 0 or done.stdout.startswith(("Could not connect", "ERR")):
        raise RuntimeError(f"redis-cli {' '.join(args)}: {done.stdout}{done.stderr}".strip())
    return done.stdout


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process``, killing it if it has not exited within 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def start_cluster(
    masters: int = 3, timeout: float = 30.0
) -> tuple[list[tuple[str, int]], t.Callable[[], None]]:
    """Start a Redis Cluster of ``masters`` nodes; its nodes and a function to stop it.

    :raises OSError: if ``redis-server`` or ``redis-cli`` cannot be run.
    :raises RuntimeError: if the cluster is not up within ``timeout`` seconds.
    """
    cluster = LocalCluster.start(masters, timeout)
    return cluster.nodes, cluster.stop


class LocalCluster:
    """A running cluster whose masters a test can stop and restart."""

    def __init__(self, directory: Path, ports: list[int], bus_ports: list[int]) -> None:
        self.directory = directory
        self.ports = ports
        self.bus_ports = dict(zip(ports, bus_ports, strict=True))
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.ports]

    @classmethod
    def start(cls, masters: int = 3, timeout: float = 30.0, attempts: int = 3) -> LocalCluster:
        """Start a cluster of ``masters`` nodes, each owning a third of the slots.

        A port taken by someone else between choosing and binding it makes a
        node exit; the whole start is then tried again on fresh ports.

        :raises OSError: if ``redis-server`` or ``redis-cli`` cannot be run.
        :raises RuntimeError: if the cluster is not up within ``timeout`` seconds.
        """
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise OSError("redis-server and redis-cli are not on PATH")
        for attempt in range(attempts):
            # Each node also listens on a cluster bus port, by default port + 10000
            # (past 65535 for high ports), so choose those too.
            chosen = free_ports(2 * masters)
            cluster = cls(
                Path(tempfile.mkdtemp(prefix="satchel-cluster-")),
                chosen[:masters],
                chosen[masters:],
            )
            try:
                cluster._create(timeout)
                return cluster
            except RuntimeError:
                cluster.stop()
                if attempt == attempts - 1:
                    raise
            except BaseException:
                cluster.stop()
                raise
        raise AssertionError("unreachable")

    def _create(self, timeout: float) -> None:
        for port in self.ports:
            self.start_node(port)
        cli(
            self.ports[0],
            "--cluster",
            "create",
            *(f"{host}:{port}" for host, port in self.nodes),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
            timeout=timeout,
        )
        self.wait_ok(timeout)

    def start_node(self, port: int) -> None:
        """Start (or restart, knowing its slots from its nodes file) the node on ``port``."""
        self.processes[port] = process = start_server(
            port,
            self.directory,
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            str(self.bus_ports[port]),
            "--cluster-config-file",
            str(self.directory / f"nodes-{port}.conf"),
            "--save",
            "",
            "--appendonly",
            "no",
        )
        wait_for(port, process)

    def stop_node(self, port: int) -> None:
        """Stop the node on ``port`` (its data is lost: nothing is persisted)."""
        stop_process(self.processes[port])

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node reports ``cluster_state:ok``.

        :raises RuntimeError: if one does not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        for port in self.ports:
            process = self.processes[port]
            while "cluster_state:ok" not in wait_for(port, process, command="CLUSTER INFO"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the cluster was not ok within {timeout} s")
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop every node and remove the cluster's files."""
        for process in self.processes.values():
            stop_process(process)
        shutil.rmtree(self.directory, ignore_errors=True)
