"""The scale-out rig's moving parts, each a context manager that stops what it started.

* :class:`AppNodes`: N gunicorn processes serving ``bench/cluster/app.py`` on
  their own loopback ports, each in its own process group (so a drill can kill
  one node, master and worker, at once).
* :class:`Balancer`: HAProxy (Debian's) in front of them, round robin, with
  health checks and a retry on another node when a connection is refused.
* :class:`PostgresPair`: a private PostgreSQL primary and a streaming standby
  (``initdb``, ``pg_basebackup``), run as the ``postgres`` user, data in a
  temporary directory.

The Redis servers come from ``tests/stores/cluster.py`` (a cluster with
replicas, a Sentinel group). Everything binds 127.0.0.1, every wait is bounded.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from tests.stores.cluster import HOST, LocalCluster, LocalSentinel, free_ports  # noqa: E402

__all__ = ["HOST", "AppNodes", "Balancer", "LocalCluster", "LocalSentinel", "PostgresPair"]


def wait_http(port: int, timeout: float = 20.0, path: str = "/health") -> None:
    """Wait until ``GET path`` on ``port`` answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered on port {port} within {timeout} s")
        time.sleep(0.1)


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Signal the process group ``process`` leads (it was started in a new session)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class AppNodes:
    """``count`` gunicorn nodes serving the rig's app on ``store_url``."""

    def __init__(self, count: int, store_url: str, namespace: str, threads: int = 4) -> None:
        self.ports = free_ports(count)
        self.env = {
            **os.environ,
            "SATCHEL_SCALEOUT_URL": store_url,
            "SATCHEL_SCALEOUT_NS": namespace,
            "PYTHONPATH": str(HERE),
        }
        self.threads = threads
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> AppNodes:
        try:
            for port in self.ports:
                self.processes[port] = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gunicorn",
                        "--bind",
                        f"{HOST}:{port}",
                        "--workers",
                        "1",
                        "--threads",
                        str(self.threads),
                        "--timeout",
                        "20",
                        "--graceful-timeout",
                        "2",
                        "--log-level",
                        "warning",
                        "app:app",
                    ],
                    env=self.env,
                    cwd=HERE,
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # 503s log a line each; the drills count them
                )
            for port in self.ports:
                wait_http(port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def kill(self, port: int) -> None:
        """Kill one node, master and worker, at once (SIGKILL)."""
        kill_group(self.processes[port], signal.SIGKILL)

    def pids(self) -> list[int]:
        """Every live process of every node (masters and workers)."""
        groups = {p.pid for p in self.processes.values() if p.poll() is None}
        found = []
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:  # field 5 of stat: the process group
                found.append(int(stat.split("/")[2]))
        return found

    def __exit__(self, *exc: object) -> None:
        for process in self.processes.values():
            kill_group(process)


class Balancer:
    """HAProxy on a free port, round robin over ``ports``."""

    def __init__(self, ports: list[int]) -> None:
        self.port = free_ports(1)[0]
        self.dir = Path(tempfile.mkdtemp(prefix="satchel-haproxy-"))
        servers = "\n".join(f"  server n{i} {HOST}:{port} check" for i, port in enumerate(ports))
        # retries + redispatch: a refused connection (a dead node) is tried on
        # another node; nothing was sent, so that is safe for any request.
        (self.dir / "haproxy.cfg").write_text(
            f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch 1
frontend app
  bind {HOST}:{self.port}
  default_backend nodes
backend nodes
  balance roundrobin
  option httpchk GET /health
  default-server inter 250ms fall 2 rise 2
{servers}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether HAProxy is installed, installing Debian's package if it is not."""
        if shutil.which("haproxy") is None and shutil.which("apt-get") and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-qq", "haproxy"], check=False, timeout=300)
        return shutil.which("haproxy") is not None

    def __enter__(self) -> Balancer:
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(self.dir / "haproxy.cfg")],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(self.port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            kill_group(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise OSError(f"{name} not found under /usr/lib/postgresql/*/bin")
    return found[-1]


class PostgresPair:
    """A PostgreSQL primary and a streaming standby on free loopback ports."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="satchel-pg-"))
        self.primary_port, self.standby_port = free_ports(2)
        self.primary, self.standby = self.dir / "primary", self.dir / "standby"

    @property
    def url(self) -> str:
        """A multi-host URL: libpq tries the hosts in turn and keeps the writable one."""
        return (
            f"postgresql+psycopg://postgres@/test?host={HOST}:{self.primary_port}"
            f"&host={HOST}:{self.standby_port}&target_session_attrs=read-write"
            "&connect_timeout=2"
        )

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        command = list(args)
        if os.geteuid() == 0:  # initdb refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(
            command, check=True, timeout=timeout, capture_output=True, stdin=subprocess.DEVNULL
        )

    def _pg_ctl(self, data: Path, *args: str) -> None:
        self._as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-w", "-t", "30", *args)

    def _start(self, data: Path, port: int) -> None:
        options = f"-p {port} -c listen_addresses={HOST} -c unix_socket_directories={self.dir}"
        self._pg_ctl(data, "-l", str(self.dir / f"{data.name}.log"), "-o", options, "start")

    def __enter__(self) -> PostgresPair:
        try:
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
            self._as_postgres(
                _pg_bin("initdb"), "-D", str(self.primary), "-A", "trust", "-U", "postgres"
            )
            with (self.primary / "postgresql.conf").open("a") as conf:
                conf.write("wal_level = replica\nmax_wal_senders = 5\nfsync = off\n")
            self._start(self.primary, self.primary_port)
            self._as_postgres(
                _pg_bin("createdb"),
                "-h",
                HOST,
                "-p",
                str(self.primary_port),
                "-U",
                "postgres",
                "test",
            )
            self._as_postgres(
                _pg_bin("pg_basebackup"),
                "-h",
                HOST,
                "-p",
                str(self.primary_port),
                "-U",
                "postgres",
                "-D",
                str(self.standby),
                "-R",
                "-c",
                "fast",
                "-X",
                "stream",
            )
            self._start(self.standby, self.standby_port)
        except BaseException:
            self.__exit__()
            raise
        return self

    def fail_over(self) -> None:
        """Stop the primary at once (immediate: no clean shutdown), promote the standby."""
        self._pg_ctl(self.primary, "-m", "immediate", "stop")
        self._pg_ctl(self.standby, "promote")

    def __exit__(self, *exc: object) -> None:
        for data in (self.standby, self.primary):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    self._pg_ctl(data, "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def redis_cluster(node_timeout_ms: int = 1500) -> LocalCluster:
    """3 masters with one replica each, on loopback."""
    return LocalCluster.start(masters=3, replicas=1, node_timeout_ms=node_timeout_ms)


def cluster_url(cluster: LocalCluster, **query: t.Any) -> str:
    seed = cluster.masters()[0]
    options = "&".join(f"{k}={v}" for k, v in query.items())
    return f"redis+cluster://{HOST}:{seed}" + (f"?{options}" if options else "")
