"""In-process benchmark: per-request cost of each session set-up, as a ratio to none.

    .venv/bin/python bench/run.py [--rounds 15] [--n 2000] [--only NAME ...] [--json FILE]

Drives the same tiny app (``bench/common.py``) directly through WSGI with no
session, with Flask's built-in session and with each satchel mode, interleaved
round by round, and prints each one's median per-request cost for a read-only
request and a request that changes one key, with its ratio to the no-session
app in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import Driver, interleave, login_cookie, machine, make_app, median
from setups import SETUPS, Skip, cleanup, quiet_checks


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=2000, help="requests per round")
    parser.add_argument("--only", nargs="*", help="set-ups to run (none is always run)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    quiet_checks()

    wanted = [n for n in SETUPS if not args.only or n == "none" or n in args.only]
    drivers: dict[str, Driver] = {}
    names = []
    for name in wanted:
        setup = SETUPS[name]
        try:
            app = make_app(setup, uses_session=setup is not None)
        except Skip as e:
            print(f"skipped {name}: {e}")
            continue
        names.append(name)
        cookie = login_cookie(app)
        drivers[f"{name} read"] = Driver(app, "/read", cookie)
        drivers[f"{name} write"] = Driver(app, "/write", cookie)

    raw = interleave(drivers, rounds=args.rounds, n=args.n)
    base = {kind: median(raw[f"none {kind}"]) for kind in ("read", "write")}
    rows = []
    print(f"{'set-up':<22}{'read µs':>10}{'ratio':>8}{'write µs':>11}{'ratio':>8}")
    for name in names:
        r, w = median(raw[f"{name} read"]), median(raw[f"{name} write"])
        rows.append(
            {
                "setup": name,
                "read_us": r * 1e6,
                "read_ratio": r / base["read"],
                "write_us": w * 1e6,
                "write_ratio": w / base["write"],
            }
        )
        rr, wr = r / base["read"], w / base["write"]
        print(f"{name:<22}{r * 1e6:>10.1f}{rr:>8.2f}{w * 1e6:>11.1f}{wr:>8.2f}")
    floors = compare_to_floors(rows)
    result = {
        "machine": machine(),
        "rounds": args.rounds,
        "n": args.n,
        "rows": rows,
        "floors": floors,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    cleanup()
    return result


def compare_to_floors(rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Each ``satchel-K`` set-up's cost as a ratio to ``floor-K``'s, same run."""
    by_name = {r["setup"]: r for r in rows}
    out = []
    for name, row in by_name.items():
        floor = by_name.get(name.replace("satchel-", "floor-", 1))
        if not name.startswith("satchel-") or floor is None:
            continue
        out.append(
            {
                "path": name.removeprefix("satchel-"),
                "read": row["read_us"] / floor["read_us"],
                "write": row["write_us"] / floor["write_us"],
            }
        )
    if out:
        print(f"\n{'path':<14}{'read / floor':>14}{'write / floor':>15}   (target 1.10)")
        for c in out:
            print(f"{c['path']:<14}{c['read']:>14.2f}{c['write']:>15.2f}")
    return out


if __name__ == "__main__":
    main()
