"""Scale benchmark: does a server-side store's read cost stay flat as it fills up,
and does purging a million expired sessions stay within bounded memory?

    .venv/bin/python bench/scale.py [--backend sqlite|postgres] [--sizes 1000 100000 1000000]
                                    [--reads 2000] [--rounds 9] [--batch 1000]
                                    [--mmap-size BYTES] [--dir DIR] [--json FILE]

1. Fills one store per size with that many sessions (``create_many``: a bulk
   insert in one transaction; it is set-up, not what is measured).
2. Times ``load`` of random existing keys, in rounds interleaved across the
   sizes so machine noise hits them alike, and prints the median cost per
   call for each size and its ratio to the smallest (the target for SQLite:
   <= 1.3 at a million). The files are warm in the OS page cache, as a
   server's would be.
3. Makes every session of the largest store expired (by purging with a clock
   past their expiry) and times ``purge`` to completion, with the count, the
   seconds, the peak of Python allocations (tracemalloc) and the growth of the
   process' anonymous memory (RssAnon, Linux) during the purge: both stay
   flat whatever the number of rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import typing as t
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sqlalchemy as sa
from common import machine

from satchel.stores import Record
from satchel.stores.sql import SQLStore
from satchel.stores.sqlite import SQLiteStore

NOW = 1_800_000_000
LIFETIME = 3600
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DATA = {"user": '"stzz"', "_permanent": "true", "cart": "[1,2,3]", "csrf": '"x"'}


def session_key(n: int) -> str:
    """The n-th session's key: spread like real ones (hashes), not sequential."""
    return hashlib.sha256(n.to_bytes(8, "big")).hexdigest()


def records(size: int) -> Iterator[tuple[str, Record]]:
    for n in range(size):
        user = f"user-{n % 50_000}" if n % 3 == 0 else None
        yield session_key(n), Record(dict(DATA), NOW - 100, NOW + LIFETIME, user)


def rss_anon_kib() -> int:
    """Anonymous resident memory of this process (KiB): heap, not mapped files."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # peak; best effort


class Backend:
    """Makes, fills and drops one store per size."""

    def __init__(self, name: str, directory: Path, mmap_size: int | None) -> None:
        self.name = name
        self.directory = directory
        self.options = {} if mmap_size is None else {"mmap_size": mmap_size}
        self.cleanups: list[t.Callable[[], None]] = []

    def make(self, size: int) -> SQLiteStore | SQLStore:
        if self.name == "sqlite":
            path = self.directory / f"scale-{size}.db"
            path.unlink(missing_ok=True)
            sqlite_store = SQLiteStore(path, **self.options)
            self.cleanups.append(sqlite_store.close)
            return sqlite_store
        sql_store = SQLStore(POSTGRES_URL, table=f"satchel_scale_{size}")
        sql_store.drop_table()
        self.cleanups += [sql_store.close, sql_store.drop_table]
        return sql_store

    def fill(self, store: SQLiteStore | SQLStore, size: int) -> None:
        """``size`` sessions through the store's bulk insert: one transaction."""
        store.create_many(records(size))
        if isinstance(store, SQLStore):
            with store.engine.begin() as conn:
                conn.execute(sa.text(f"ANALYZE {store.table.name}"))

    def close(self) -> None:
        for cleanup in reversed(self.cleanups):
            cleanup()


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--reads", type=int, default=2000, help="loads per round and size")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=1000, help="purge batch size")
    parser.add_argument("--mmap-size", type=int, help="SQLiteStore's mmap_size (0: off)")
    parser.add_argument("--dir", type=Path, help="where SQLite files go (default: a temp dir)")
    parser.add_argument(
        "--json", type=Path, help="default: bench/results/scale.json (scale-postgres.json)"
    )
    args = parser.parse_args(argv)
    if args.json is None:
        name = "scale.json" if args.backend == "sqlite" else f"scale-{args.backend}.json"
        args.json = Path(__file__).parent / "results" / name
    sizes = sorted(args.sizes)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        backend = Backend(args.backend, Path(tmp), args.mmap_size)
        try:
            result = run(backend, sizes, args)
        finally:
            backend.close()
    options = {"mmap_size": args.mmap_size} if args.mmap_size is not None else {}
    result = {"machine": machine(), "backend": args.backend, **options, **result}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.json}")
    return result


def run(backend: Backend, sizes: list[int], args: argparse.Namespace) -> dict[str, t.Any]:
    stores: dict[int, SQLiteStore | SQLStore] = {}
    fill: dict[int, float] = {}
    for size in sizes:
        stores[size] = store = backend.make(size)
        t0 = time.perf_counter()
        backend.fill(store, size)
        fill[size] = time.perf_counter() - t0
        print(f"filled {size:>9,} sessions in {fill[size]:7.1f} s")

    # Random existing keys, different ones each round.
    rng = random.Random(42)
    keys = {
        size: [session_key(rng.randrange(size)) for _ in range(args.reads * (args.rounds + 1))]
        for size in sizes
    }
    per_call: dict[int, list[float]] = {size: [] for size in sizes}
    for round_ in range(args.rounds + 1):
        for size in sizes:
            load = stores[size].load
            batch = keys[size][round_ * args.reads : (round_ + 1) * args.reads]
            t0 = time.perf_counter()
            for key in batch:
                if load(key, NOW) is None:
                    raise AssertionError(f"{key} missing from the store of {size}")
            elapsed = time.perf_counter() - t0
            if round_:  # the first round warms up
                per_call[size].append(elapsed / args.reads * 1e6)
    base = statistics.median(per_call[sizes[0]])
    reads = []
    print(f"\n{'sessions':>10}{'load µs':>10}{'ratio':>8}")
    for size in sizes:
        us = statistics.median(per_call[size])
        reads.append({"sessions": size, "load_us": us, "ratio": us / base, "fill_s": fill[size]})
        print(f"{size:>10,}{us:>10.2f}{us / base:>8.2f}")

    largest = sizes[-1]
    store = stores[largest]
    rss_before = peak_rss = rss_anon_kib()
    tracemalloc.start()
    t0 = time.perf_counter()
    batches = purged = 0
    for count in store.purge(NOW + LIFETIME + 1, batch=args.batch):  # all expired by then
        purged += count
        batches += 1
        peak_rss = max(peak_rss, rss_anon_kib())
    seconds = time.perf_counter() - t0
    peak_python = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert store.load(session_key(0), NOW) is None
    purge = {
        "sessions": largest,
        "purged": purged,
        "batches": batches,
        "batch": args.batch,
        "seconds": seconds,
        "peak_python_kib": peak_python / 1024,
        "rss_anon_growth_kib": peak_rss - rss_before,
    }
    print(
        f"\npurge of {largest:,} expired: {purged:,} rows in {batches:,} batches of"
        f" {args.batch}, {seconds:.1f} s; peak Python allocations {peak_python / 1024:.0f} KiB,"
        f" anonymous memory growth {peak_rss - rss_before} KiB"
    )
    return {"reads_per_round": args.reads, "rounds": args.rounds, "reads": reads, "purge": purge}


if __name__ == "__main__":
    main()
