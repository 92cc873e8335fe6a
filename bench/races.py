"""The two session races, over real HTTP, against Flask-Session and every satchel store.

    .venv/bin/python bench/races.py [--rounds 3] [--only NAME ...] [--json FILE]

1. **Lost update.** One browser sends two requests at once; each loads the
   session, works a while (``/slow/<key>`` sleeps 0.4 s) and sets a different
   key. Afterwards, are both keys in the session?
2. **Logout undone.** A slow request is in flight when the user logs out in
   another tab. Afterwards, does the cookie the browser had still open a
   logged-in session?

Each set-up's app runs in its own threaded HTTP server on 127.0.0.1
(``bench/serve.py``), with the library's default settings. Exits non-zero if
any satchel store loses an update or undoes a logout.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from setups import cleanup

HERE = Path(__file__).parent
CANDIDATES = [
    "flask-session-redis",
    "flask-session-cachelib",
    "flask-session-sqlalchemy",
    "satchel-memory",
    "satchel-sqlite",
    "satchel-postgres",
    "satchel-mysql",
    "satchel-redis",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``bench/serve.py NAME PORT`` in a child process, for a ``with`` block."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()

    def __enter__(self) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "serve.py"), self.name, str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise RuntimeError(f"{self.name} did not start: {self.proc.stderr.read()[-2000:]}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, str | None, str]:
    """GET ``path`` with the session cookie; return status, the new cookie, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Cookie": f"session={cookie}"} if cookie else {})
    response = conn.getresponse()
    body = response.read().decode()
    new = None
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith("session="):
            new = header.split(";", 1)[0].split("=", 1)[1]
    conn.close()
    return response.status, new, body


def lost_update(port: int) -> bool:
    """True if both concurrent writes survived."""
    _, cookie, _ = get(port, "/login")
    threads = [threading.Thread(target=get, args=(port, f"/slow/{k}", cookie)) for k in "ab"]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    keys = get(port, "/dump", cookie)[2].split(",")
    return "a" in keys and "b" in keys


def logout_undone(port: int) -> bool:
    """True if the session came back after a logout raced a slow request."""
    _, cookie, _ = get(port, "/login")
    slow = threading.Thread(target=get, args=(port, "/slow/page", cookie))
    slow.start()
    time.sleep(0.1)  # the slow request has loaded the session
    get(port, "/logout", cookie)
    slow.join()
    return "user" in get(port, "/dump", cookie)[2].split(",")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    rows: list[dict[str, t.Any]] = []
    print(f"{'set-up':<26}{'both writes kept':>18}{'logout undone':>16}")
    try:
        for name in CANDIDATES:
            if args.only and name not in args.only:
                continue
            try:
                with Server(name) as server:
                    kept = sum(lost_update(server.port) for _ in range(args.rounds))
                    undone = sum(logout_undone(server.port) for _ in range(args.rounds))
            except RuntimeError as e:
                print(f"{name:<26}skipped: {str(e).splitlines()[-1][:80]}")
                continue
            rows.append({"setup": name, "rounds": args.rounds, "kept": kept, "undone": undone})
            print(f"{name:<26}{f'{kept}/{args.rounds}':>18}{f'{undone}/{args.rounds}':>16}")
    finally:
        cleanup()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rounds": args.rounds, "rows": rows}, indent=2))
    bad = [
        r["setup"]
        for r in rows
        if r["setup"].startswith("satchel") and (r["kept"] < r["rounds"] or r["undone"])
    ]
    if bad:
        print("satchel failed a race on: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
