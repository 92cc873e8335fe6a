"""The rig's load generator and its checks.

Each client logs in as its own user, keeps its cookie, and increments the
counter in its session, checking every answer: the value must be above the
last one it was acknowledged (otherwise an acknowledged write was lost). A 401
means its session is gone (counted, then it logs in again); a 503 is a failed
write, *in doubt* (it may have been applied). Clients send each request to the
next of ``targets`` in turn (one HAProxy port, or the nodes themselves: a
round-robin client), skipping a target whose connection is refused.

Every client stops after ``seconds`` or ``max_requests``, whichever is first.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import typing as t
from dataclasses import dataclass, field

HOST = "127.0.0.1"


@dataclass
class Client:
    """One browser: its cookie and what it was told."""

    user: str
    cookie: str = ""
    acked: int = 0  # the last value the server acknowledged
    lost: int = 0  # acknowledged increments that disappeared
    sessions_lost: int = 0
    in_doubt: int = 0


@dataclass
class LoadResult:
    """What a run saw: per-request samples and per-client findings."""

    started: float
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, latency, status)
    clients: list[Client] = field(default_factory=list)
    final_unreadable: int = 0

    @property
    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for _, _, status in self.samples:
            counts[status] = counts.get(status, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def lost_writes(self) -> int:
        return sum(c.lost for c in self.clients)

    @property
    def sessions_lost(self) -> int:
        return sum(c.sessions_lost for c in self.clients)

    def rate(self) -> float:
        if not self.samples:
            return 0.0
        span = max(s[0] + s[1] for s in self.samples) - self.started
        return sum(1 for s in self.samples if s[2] == 200) / span

    def p99_ms(self) -> float:
        latencies = sorted(s[1] for s in self.samples if s[2] == 200)
        if len(latencies) < 2:
            return 0.0
        return 1000 * statistics.quantiles(latencies, n=100)[98]

    def failure_window(self, status: int = 503) -> tuple[float, float] | None:
        """First and last time (s since start) a request ended with ``status``."""
        times = [s[0] - self.started for s in self.samples if s[2] == status]
        return (min(times), max(times)) if times else None

    def summary(self) -> dict[str, t.Any]:
        return {
            "requests": len(self.samples),
            "statuses": self.statuses,
            "req_per_s": round(self.rate(), 1),
            "p99_ms": round(self.p99_ms(), 1),
            "acknowledged_writes_lost": self.lost_writes,
            "sessions_lost": self.sessions_lost,
            "writes_in_doubt": sum(c.in_doubt for c in self.clients),
            "failed_window_s": self.failure_window(),
            "final_unreadable": self.final_unreadable,
        }


class Targets:
    """Round robin over ports; a port that refuses connections is skipped a while."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.down_until = dict.fromkeys(ports, 0.0)

    def pick(self, n: int) -> list[int]:
        """The ports to try for request ``n``, the live ones first."""
        ordered = self.ports[n % len(self.ports) :] + self.ports[: n % len(self.ports)]
        now = time.monotonic()
        return sorted(ordered, key=lambda p: self.down_until[p] > now)


def request(
    conns: dict[int, http.client.HTTPConnection], targets: Targets, n: int, path: str, cookie: str
) -> tuple[int, str, str | None]:
    """GET ``path``; (status, body, Set-Cookie). Only a refused connection, where
    nothing was sent, moves on to the next target; other failures are 599."""
    for port in targets.pick(n):
        conn = conns.get(port) or http.client.HTTPConnection(HOST, port, timeout=10)
        conns[port] = conn
        try:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, body, response.getheader("Set-Cookie")
        except ConnectionRefusedError:
            conn.close()
            targets.down_until[port] = time.monotonic() + 1.0
            continue
        except (OSError, http.client.HTTPException):
            conn.close()
            conns.pop(port, None)
            return 599, "", None
    return 599, "", None


def _cookie(set_cookie: str | None, old: str) -> str:
    return set_cookie.split(";", 1)[0] if set_cookie else old


def run_load(
    targets: list[int],
    clients: int,
    seconds: float,
    max_requests: int = 100_000,
    during: t.Callable[[], None] | None = None,
    pause: float = 0.0,
) -> LoadResult:
    """Run the clients against ``targets``; ``during`` runs alongside (a fault)."""
    result = LoadResult(started=time.monotonic())
    ring = Targets(targets)
    lock = threading.Lock()
    result.clients = [Client(user=f"user-{i}") for i in range(clients)]

    def login(c: Client, conns: dict[int, http.client.HTTPConnection], n: int) -> None:
        for attempt in range(50):  # bounded: the store may be failing over
            status, _, set_cookie = request(conns, ring, n + attempt, f"/login/{c.user}", "")
            if status == 200 and set_cookie:
                c.cookie, c.acked = _cookie(set_cookie, ""), 0
                return
            time.sleep(0.1)

    def client(c: Client) -> None:
        conns: dict[int, http.client.HTTPConnection] = {}
        n = hash(c.user)
        login(c, conns, n)
        deadline = time.monotonic() + seconds
        sent = 0
        while sent < max_requests and time.monotonic() < deadline:
            n += 1
            sent += 1
            t0 = time.monotonic()
            status, body, set_cookie = request(conns, ring, n, "/incr", c.cookie)
            elapsed = time.monotonic() - t0
            with lock:
                result.samples.append((t0, elapsed, status))
            if status == 200:
                c.cookie = _cookie(set_cookie, c.cookie)
                value = int(body)
                if value <= c.acked:  # an acknowledged increment disappeared
                    c.lost += c.acked - value + 1
                c.acked = value
            elif status == 401:
                c.sessions_lost += 1
                login(c, conns, n)
            else:
                c.in_doubt += 1
            if pause:
                time.sleep(pause)
        # The final read: the counter must hold every acknowledged increment.
        for attempt in range(50):
            status, body, _ = request(conns, ring, n + attempt, "/count", c.cookie)
            if status == 200:
                if int(body) < c.acked:
                    c.lost += c.acked - int(body)
                break
            if status == 401:
                c.sessions_lost += 1
                break
            time.sleep(0.1)
        else:
            with lock:
                result.final_unreadable += 1
        for conn in conns.values():
            conn.close()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in result.clients]
    fault = threading.Thread(target=during, daemon=True) if during else None
    for th in threads:
        th.start()
    if fault:
        fault.start()
    for th in threads:
        th.join(timeout=seconds + 60)
    if fault:
        fault.join(timeout=120)
    return result


def index_check(store: t.Any, users: list[str]) -> dict[str, int]:
    """Compare each user's ``sessions_of`` with the records that name the user:
    ``missing``: a record the index does not list; ``leaked``: an index entry
    with no record. Both must be 0."""
    now = int(time.time())
    by_user: dict[str, set[str]] = {}
    for key, record in store.scan(now):
        if record.user is not None:
            by_user.setdefault(record.user, set()).add(key)
    missing = leaked = 0
    for user in set(users) | set(by_user):
        listed = {key for key, _ in store.sessions_of(user, now)}
        actual = by_user.get(user, set())
        missing += len(actual - listed)
        leaked += len(listed - actual)
    return {"users": len(set(users) | set(by_user)), "missing": missing, "leaked": leaked}
