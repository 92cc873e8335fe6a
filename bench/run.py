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
import os
import shutil
import sys
import tempfile
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import Driver, interleave, login_cookie, machine, make_app, median
from flask import Flask

import satchel


class Skip(Exception):
    """A set-up whose server or package is not available here."""


TMP = Path(tempfile.mkdtemp(prefix="satchel-bench-"))
REDIS_URL = os.environ.get("SATCHEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "SATCHEL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLEANUPS: list[t.Callable[[], None]] = []


def flask_builtin(app: Flask) -> None:
    pass  # Flask's own SecureCookieSessionInterface


def satchel_signed(app: Flask) -> None:
    satchel.Satchel(app)


def satchel_store(spec: t.Callable[[], t.Any]) -> t.Callable[[Flask], None]:
    def setup(app: Flask) -> None:
        try:
            app.config["SESSION_STORE"] = spec()
        except ImportError as e:
            raise Skip(str(e)) from e
        satchel.Satchel(app)

    return setup


def _redis_client() -> t.Any:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as e:
        raise Skip(f"Redis: {e}") from e
    return client


def _satchel_redis() -> t.Any:
    from satchel.stores.redis import RedisStore

    client = _redis_client()
    prefix = f"satchel-bench:{os.getpid()}:"
    CLEANUPS.append(lambda: [client.delete(k) for k in client.scan_iter(match=prefix + "*")])
    return RedisStore(client, prefix=prefix)


def _satchel_postgres() -> t.Any:
    import sqlalchemy
    from satchel.stores.sql import SQLStore

    engine = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        engine.connect().close()
    except sqlalchemy.exc.OperationalError as e:
        raise Skip(f"PostgreSQL: {e}") from e
    store = SQLStore(engine, table=f"satchel_bench_{os.getpid()}")
    CLEANUPS.append(store.drop_table)
    return store


def _satchel_sqlite() -> t.Any:
    from satchel.stores.sqlite import SQLiteStore

    return SQLiteStore(str(TMP / "satchel.db"))


def flask_session(kind: str) -> t.Callable[[Flask], None]:
    """Flask-Session 0.8 with its defaults, on ``kind``'s backend."""

    def setup(app: Flask) -> None:
        try:
            from flask_session import Session
        except ImportError as e:
            raise Skip("Flask-Session is not installed (pip install -e '.[bench]')") from e
        if kind == "redis":
            app.config.update(SESSION_TYPE="redis", SESSION_REDIS=_redis_client())
            prefix = f"fs-bench:{os.getpid()}:"
            app.config["SESSION_KEY_PREFIX"] = prefix
        elif kind == "cachelib":
            from cachelib.file import FileSystemCache

            app.config.update(
                SESSION_TYPE="cachelib",
                SESSION_CACHELIB=FileSystemCache(str(TMP / "cachelib"), threshold=100_000),
            )
        elif kind == "sqlalchemy":
            app.config.update(
                SESSION_TYPE="sqlalchemy",
                SQLALCHEMY_DATABASE_URI=f"sqlite:///{TMP / 'flask_session.db'}",
            )
        Session(app)
        if kind == "sqlalchemy":
            with app.app_context():
                app.extensions["sqlalchemy"].create_all()

    return setup


#: name -> how to set up the app (None: no session at all)
SETUPS: dict[str, t.Callable[[Flask], None] | None] = {
    "none": None,
    "flask": flask_builtin,
    "satchel-signed": satchel_signed,
    "satchel-memory": satchel_store(lambda: "memory://"),
    "satchel-sqlite": satchel_store(_satchel_sqlite),
    "satchel-postgres": satchel_store(_satchel_postgres),
    "satchel-redis": satchel_store(_satchel_redis),
    "flask-session-redis": flask_session("redis"),
    "flask-session-cachelib": flask_session("cachelib"),
    "flask-session-sqlalchemy": flask_session("sqlalchemy"),
}


def main(argv: list[str] | None = None) -> dict[str, t.Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=2000, help="requests per round")
    parser.add_argument("--only", nargs="*", help="set-ups to run (none is always run)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)

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
    result = {"machine": machine(), "rounds": args.rounds, "n": args.n, "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    for cleanup in CLEANUPS:
        cleanup()
    shutil.rmtree(TMP, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
