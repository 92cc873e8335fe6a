"""Per-call cost of each server-side store's read (load) and write (update) paths.

    .venv/bin/python bench/stores.py [--backends sqlite postgres mysql] [--rows 1000]
                                     [--n 2000] [--rounds 7] [--json FILE]

Each store holds ``--rows`` sessions; the script times, with :mod:`timeit`,
``load`` of random existing keys and ``update`` of one key per call (the two
calls on every request that reads or changes a server-side session), and
prints each one's median microseconds per call over the rounds. The SQL
backends are timed with the engine ``SQLStore.from_url`` makes
(``pool_pre_ping=True``) and with a plain one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import timeit
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine

from satchel.stores import Change, Record, Store

NOW = 1_800_000_000
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306/test"


def session_key(n: int) -> str:
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def record(n: int) -> Record:
    data = {"user": f'"user-{n}"', "_permanent": "true", "cart": "[1,2,3]"}
    return Record(data, created=NOW - 100, expires=NOW + 3600)


def stores(names: list[str], tmp: Path) -> t.Iterator[tuple[str, Store, t.Callable[[], None]]]:
    """(label, store, cleanup) for each backend asked for."""
    for name in names:
        if name == "sqlite":
            from satchel.stores.sqlite import SQLiteStore

            store = SQLiteStore(tmp / "bench.db")
            yield "sqlite", store, store.close
        else:
            import sqlalchemy as sa

            from satchel.stores.sql import SQLStore

            url = POSTGRES_URL if name == "postgres" else MYSQL_URL
            for pre_ping in (True, False):
                engine = sa.create_engine(url, pool_pre_ping=pre_ping)
                sql_store = SQLStore(engine, table=f"satchel_bench_{name}")

                def cleanup(s: SQLStore = sql_store, e: t.Any = engine) -> None:
                    s.drop_table()
                    e.dispose()

                yield f"{name}{' (pre-ping)' if pre_ping else ''}", sql_store, cleanup


def time_store(store: Store, *, rows: int, n: int, rounds: int) -> tuple[float, float]:
    """Median µs per ``load`` of a random existing key, and per ``update`` of one key."""
    rng = random.Random(1)
    keys = [session_key(rng.randrange(rows)) for _ in range(n)]
    it = iter(keys * (rounds + 2))
    load, update = store.load, store.update
    hot = session_key(0)
    counter = iter(range(10**9))

    def read() -> None:
        load(next(it), NOW)

    def write() -> None:
        update(hot, Change(set={"n": str(next(counter))}, expires=NOW + 3600), NOW)

    timeit.timeit(read, number=n // 10)  # warm up
    reads = timeit.repeat(read, number=n, repeat=rounds)
    writes = timeit.repeat(write, number=n, repeat=rounds)
    return statistics.median(reads) / n * 1e6, statistics.median(writes) / n * 1e6


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgres", "mysql"])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--n", type=int, default=2000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

    rows = []
    print(f"{'store':<22}{'load µs':>10}{'update µs':>11}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, store, cleanup in stores(args.backends, Path(tmp)):
            try:
                for n in range(args.rows):
                    store.create(session_key(n), record(n))
                r, w = time_store(store, rows=args.rows, n=args.n, rounds=args.rounds)
                rows.append({"store": label, "rows": args.rows, "load_us": r, "update_us": w})
                print(f"{label:<22}{r:>10.1f}{w:>11.1f}")
            finally:
                cleanup()
    result = {"machine": machine(), "n": args.n, "rounds": args.rounds, "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
