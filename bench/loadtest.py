"""Over HTTP: each set-up's app under gunicorn on loopback, loaded by wrk.

    .venv/bin/python bench/loadtest.py [--seconds 5] [--concurrency 8 32] [--only NAME ...]

For every set-up, the same app (``bench/wsgi.py``) runs under gunicorn (2 sync
workers: this machine has 2 cores) and wrk loads ``/read`` and ``/write`` with
a logged-in cookie at each concurrency, reporting requests per second and the
99th-percentile latency. The memory store is left out: each worker process
would have its own. Set-ups run one after the other, so compare them within
one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from races import free_port, get
from setups import SETUPS, cleanup

HERE = Path(__file__).parent
DEFAULT = [
    "none",
    "flask",
    "satchel-signed",
    "satchel-encrypted",
    "satchel-sqlite",
    "satchel-postgres",
    "satchel-redis",
    "flask-session-redis",
    "flask-session-cachelib",
    "flask-session-sqlalchemy",
]


def gunicorn(name: str, port: int) -> subprocess.Popen[str]:
    env = dict(os.environ, SATCHEL_BENCH_SETUP=name, PYTHONPATH=str(HERE))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ],
        env=env,
        cwd=HERE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            get(port, "/read")
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn for {name} exited") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn for {name} did not start")


def _seconds(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(
    port: int, path: str, cookie: str | None, concurrency: int, seconds: int
) -> dict[str, float]:
    """Run wrk; return requests per second, p99 latency (ms) and non-2xx count."""
    cmd = ["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds}s", "--latency"]
    if cookie:
        cmd += ["-H", f"Cookie: session={cookie}"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s|m)\b", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p99_ms": _seconds(p99.group(1), p99.group(2)) * 1000 if p99 else float("nan"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--only", nargs="*")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk; scripts/bench does it)")

    rows: list[dict[str, t.Any]] = []
    print(f"{'set-up':<26}{'conc':>5}{'read rps':>10}{'p99 ms':>8}{'write rps':>11}{'p99 ms':>8}")
    try:
        for name in args.only or DEFAULT:
            if name not in SETUPS:
                continue
            port = free_port()
            try:
                proc = gunicorn(name, port)
            except RuntimeError as e:
                print(f"{name:<26}skipped: {e}")
                continue
            try:
                _, cookie, _ = get(port, "/login")
                for conc in args.concurrency:
                    read = wrk(port, "/read", cookie, conc, args.seconds)
                    write = wrk(port, "/write", cookie, conc, args.seconds)
                    rows.append({"setup": name, "concurrency": conc, "read": read, "write": write})
                    print(
                        f"{name:<26}{conc:>5}{read['rps']:>10.0f}{read['p99_ms']:>8.1f}"
                        f"{write['rps']:>11.0f}{write['p99_ms']:>8.1f}"
                        + ("  (non-2xx!)" if read["non_2xx"] or write["non_2xx"] else "")
                    )
            finally:
                proc.terminate()
                proc.wait(timeout=20)
    finally:
        cleanup()
    result = {"seconds": args.seconds, "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
