"""Load and fault drills over real HTTP: nothing lost, no 5xx, recovery by itself.

    .venv/bin/python bench/drills.py soak  [--setup satchel-sqlite] [--clients 20] [--requests 200]
    .venv/bin/python bench/drills.py redis [--clients 10] [--requests 300]
    .venv/bin/python bench/drills.py postgres [--clients 10] [--requests 300]

``soak``: many clients each increment their own session counter for a fixed
number of requests; afterwards every counter must equal that client's number
of successful responses, with zero 5xx. ``redis`` / ``postgres``: the same
while the store's server is stopped and started again mid-run (a private
``redis-server`` with an append-only file; the machine's PostgreSQL cluster):
errors (503) only while it is down, recovery without restarting the app, no
session corrupted, and no acknowledged write lost.

One thing no server can promise: a request in flight at the instant the store
dies may have been applied although its answer is a 503 (the store's reply was
lost with the connection). Such a write is *in doubt*, at most one per client
per outage; the drill counts them and allows exactly that. Exactly-once would
need the client to retry with an idempotency key.

Everything runs on loopback, bounded in count and time. The test suite runs
CI-sized versions (``tests/test_drills.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from races import Server, free_port, get


@dataclass
class SoakResult:
    """What a soak saw, per client and in total."""

    ok: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    counters: list[int] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def intact(self) -> bool:
        """Every counter equals its client's successful increments."""
        return self.ok == self.counters

    @property
    def in_doubt(self) -> list[int]:
        """Per client, increments applied although answered with an error."""
        return [c - ok for c, ok in zip(self.counters, self.ok, strict=True)]

    def nothing_lost(self, outages: int = 1) -> bool:
        """No acknowledged write lost, at most one in doubt per client per outage."""
        return all(
            0 <= doubt <= min(outages, failed)
            for doubt, failed in zip(self.in_doubt, self.failed, strict=True)
        )


def soak(
    port: int,
    clients: int,
    requests: int,
    during: t.Callable[[], None] | None = None,
    pause: float = 0.0,
) -> SoakResult:
    """Run the soak against ``port``; ``during`` runs in parallel (a fault)."""
    result = SoakResult(ok=[0] * clients, failed=[0] * clients, counters=[0] * clients)
    lock = threading.Lock()
    cookies: list[str | None] = []
    for _ in range(clients):
        _, cookie, _ = get(port, "/login")
        cookies.append(cookie)

    def client(i: int) -> None:
        for _ in range(requests):
            try:
                status, _, _ = get(port, "/incr", cookies[i])
            except OSError:
                status = 599  # connection-level failure
            with lock:
                result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.ok[i] += 1
            else:
                result.failed[i] += 1
            if pause:
                time.sleep(pause)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    fault = threading.Thread(target=during) if during else None
    for th in threads:
        th.start()
    if fault:
        fault.start()
    for th in threads:
        th.join()
    if fault:
        fault.join()
    for i, cookie in enumerate(cookies):
        _, _, value = get(port, "/count", cookie)
        result.counters[i] = int(value) if value.isdigit() else -1
    return result


class RedisServer:
    """A private redis-server on a free loopback port, persisting to an AOF."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="satchel-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socketpair(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def socketpair(port: int) -> t.Iterator[None]:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
        yield


def outage(
    stop: t.Callable[[], None], start: t.Callable[[], None], after: float, down: float
) -> t.Callable[[], None]:
    """A fault: after ``after`` seconds stop the server, ``down`` seconds later start it."""

    def run() -> None:
        time.sleep(after)
        stop()
        time.sleep(down)
        start()

    return run


def postgres_restart() -> None:
    """Restart the machine's PostgreSQL cluster (stop, pause, start)."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"],
        check=True,
    )
    time.sleep(1.0)
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True
    )


def report(name: str, result: SoakResult) -> bool:
    print(f"{name}: statuses {dict(sorted(result.statuses.items()))}")
    print(f"  successes per client {result.ok}")
    print(f"  counters per client   {result.counters}")
    print(f"  in doubt per client   {result.in_doubt}")
    print(f"  nothing lost: {result.nothing_lost()}")
    return result.nothing_lost() and set(result.statuses) <= {200, 503}


def main(argv: list[str] | None = None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("drill", choices=["soak", "redis", "postgres"])
    parser.add_argument("--setup", default="satchel-sqlite")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)

    if args.drill == "soak":
        with Server(args.setup) as server:
            result = soak(server.port, args.clients, args.requests)
        ok = report(f"soak on {args.setup}", result) and result.intact
        return 0 if ok and result.server_errors == 0 else 1
    if args.drill == "redis":
        redis_server = RedisServer()
        redis_server.start()
        os.environ["SATCHEL_BENCH_REDIS_URL"] = redis_server.url
        try:
            with Server("satchel-redis") as server:
                fault = outage(redis_server.stop, redis_server.start, after=0.5, down=1.0)
                result = soak(server.port, args.clients, args.requests, fault, pause=0.005)
        finally:
            redis_server.close()
        return 0 if report("redis stopped and restarted", result) else 1
    with Server("satchel-postgres") as server:
        fault = outage(lambda: None, postgres_restart, after=0.5, down=0.0)
        result = soak(server.port, args.clients, args.requests, fault, pause=0.005)
    return 0 if report("postgres restarted", result) else 1


if __name__ == "__main__":
    sys.exit(main())
