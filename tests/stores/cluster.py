"""Start throwaway Redis servers on loopback for the tests and the scale-out rig.

A Redis Cluster (3 masters, optionally a replica each), or a master with a
replica watched by Sentinels. Everything is bounded in time and stays on
127.0.0.1: ``redis-server`` processes on free ports, no persistence, their
files in a temporary directory that ``stop()`` removes with them.
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

    def __init__(
        self,
        directory: Path,
        ports: list[int],
        bus_ports: list[int],
        replicas: int = 0,
        node_timeout_ms: int = 15000,
    ) -> None:
        self.directory = directory
        self.ports = ports
        self.bus_ports = dict(zip(ports, bus_ports, strict=True))
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [(HOST, port) for port in self.ports]

    @classmethod
    def start(
        cls,
        masters: int = 3,
        timeout: float = 30.0,
        attempts: int = 3,
        replicas: int = 0,
        node_timeout_ms: int = 15000,
    ) -> LocalCluster:
        """Start a cluster of ``masters`` nodes, each owning a share of the slots
        and followed by ``replicas`` replicas; a master unreachable for
        ``node_timeout_ms`` is replaced by one of its replicas.

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
            nodes = masters * (1 + replicas)
            chosen = free_ports(2 * nodes)
            cluster = cls(
                Path(tempfile.mkdtemp(prefix="satchel-cluster-")),
                chosen[:nodes],
                chosen[nodes:],
                replicas,
                node_timeout_ms,
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
            str(self.replicas),
            "--cluster-yes",
            timeout=timeout,
        )
        self.wait_ok(timeout)
        self.wait_replicas_linked(timeout)

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
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
        )
        wait_for(port, process)

    def stop_node(self, port: int) -> None:
        """Stop the node on ``port`` (its data is lost: nothing is persisted)."""
        stop_process(self.processes[port])

    def kill_node(self, port: int) -> None:
        """Kill the node on ``port`` at once (SIGKILL: no goodbye to anyone)."""
        process = self.processes[port]
        process.kill()
        process.wait(timeout=5)

    def live_ports(self) -> list[int]:
        return [p for p in self.ports if self.processes[p].poll() is None]

    def roles(self) -> dict[int, str | int]:
        """Each live node's role as its peers see it: "master" or its master's port."""
        table = cli(self.live_ports()[0], "CLUSTER", "NODES")
        ids, rows = {}, []
        for line in table.splitlines():
            node_id, address, flags, master_id = line.split()[:4]
            port = int(address.split("@")[0].rsplit(":", 1)[1])
            ids[node_id] = port
            rows.append((port, flags, master_id))
        return {
            port: "master" if "master" in flags.split(",") else ids.get(master_id, 0)
            for port, flags, master_id in rows
            if "fail" not in flags.split(",")
        }

    def masters(self) -> list[int]:
        """The ports of the live masters that own slots."""
        return [port for port, role in self.roles().items() if role == "master"]

    def replica_of(self, master: int) -> int:
        """The port of a replica of ``master``."""
        return next(port for port, role in self.roles().items() if role == master)

    def wait_replicas_linked(self, timeout: float = 30.0) -> None:
        """Wait until every replica has finished its first sync with its master."""
        deadline = time.monotonic() + timeout
        for port in self.live_ports():
            while True:
                info = cli(port, "INFO", "replication")
                if "role:master" in info or "master_link_status:up" in info:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {port} did not sync within {timeout} s")
                time.sleep(0.1)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every node reports ``cluster_state:ok``.

        :raises RuntimeError: if one does not within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        for port in self.live_ports():
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


class LocalSentinel:
    """A master, its replica and three Sentinels watching them as ``service``.

    Sentinels fail the master over once it has been unreachable for
    ``down_after_ms``; two of the three must agree.
    """

    def __init__(self, directory: Path, service: str = "satchel") -> None:
        self.directory = directory
        self.service = service
        self.processes: dict[int, subprocess.Popen[bytes]] = {}
        self.data_ports: list[int] = []
        self.sentinel_ports: list[int] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    @classmethod
    def start(cls, down_after_ms: int = 1000, timeout: float = 30.0) -> LocalSentinel:
        """Start the five servers.

        :raises OSError: if ``redis-server`` or ``redis-cli`` cannot be run.
        :raises RuntimeError: if they are not up within ``timeout`` seconds.
        """
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise OSError("redis-server and redis-cli are not on PATH")
        group = cls(Path(tempfile.mkdtemp(prefix="satchel-sentinel-")))
        try:
            ports = free_ports(5)
            group.data_ports, group.sentinel_ports = ports[:2], ports[2:]
            master, replica = group.data_ports
            for port in group.data_ports:
                args = ["--save", "", "--appendonly", "no"]
                if port == replica:
                    args += ["--replicaof", HOST, str(master)]
                group.processes[port] = start_server(port, group.directory, *args)
                wait_for(port, group.processes[port], timeout)
            for port in group.sentinel_ports:
                conf = group.directory / f"sentinel-{port}.conf"
                conf.write_text(
                    f"port {port}\nbind {HOST}\ndir {group.directory}\n"
                    f"sentinel monitor {group.service} {HOST} {master} 2\n"
                    f"sentinel down-after-milliseconds {group.service} {down_after_ms}\n"
                    f"sentinel failover-timeout {group.service} {max(3 * down_after_ms, 3000)}\n"
                )
                group.processes[port] = subprocess.Popen(
                    ["redis-server", str(conf), "--sentinel"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wait_for(port, group.processes[port], timeout)
            group.wait_master(master, timeout)
            return group
        except BaseException:
            group.stop()
            raise

    def master(self) -> int:
        """The port the Sentinels currently name as the master."""
        answer = cli(
            self.sentinel_ports[0], "SENTINEL", "get-master-addr-by-name", self.service
        ).split()
        return int(answer[1])

    def wait_master(self, port: int | None = None, timeout: float = 30.0) -> int:
        """Wait until the Sentinels name a master (``port``, if given) whose
        replica is linked, and every Sentinel knows the others; its port."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                current = self.master()
                info = cli(current, "INFO", "replication")
                peers = cli(self.sentinel_ports[0], "SENTINEL", "sentinels", self.service)
            except (RuntimeError, IndexError, ValueError):
                current, info, peers = -1, "", ""
            degraded = self.processes_alive() < 5  # after a kill: no replica left to wait for
            linked = degraded or ("state=online" in info and peers.count("name") >= 2)
            if (port is None or current == port) and "role:master" in info and linked:
                return current
            if time.monotonic() > deadline:
                raise RuntimeError(f"Sentinel named no ready master within {timeout} s")
            time.sleep(0.1)

    def processes_alive(self) -> int:
        return sum(p.poll() is None for p in self.processes.values())

    def kill(self, port: int) -> None:
        """Kill the server on ``port`` at once (SIGKILL)."""
        self.processes[port].kill()
        self.processes[port].wait(timeout=5)

    def stop(self) -> None:
        """Stop every server and remove their files."""
        for process in self.processes.values():
            stop_process(process)
        shutil.rmtree(self.directory, ignore_errors=True)
