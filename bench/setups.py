"""The session set-ups every benchmark and drill compares, by name.

Each set-up configures the same tiny app (``common.make_app``). Child processes
(HTTP servers' workers) rebuild a set-up from its name and share its data with
the parent through ``SATCHEL_BENCH_RUN`` (key prefixes, table names) and
``SATCHEL_BENCH_DIR`` (files), which the first process to import this module
chooses. :func:`cleanup`, called by that process, removes what the run stored.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import typing as t
from pathlib import Path

from flask import Flask

import satchel

RUN = os.environ.setdefault("SATCHEL_BENCH_RUN", secrets.token_hex(4))
TMP = Path(os.environ.setdefault("SATCHEL_BENCH_DIR", tempfile.mkdtemp(prefix="satchel-bench-")))
OWNER = os.environ.setdefault("SATCHEL_BENCH_OWNER", str(os.getpid())) == str(os.getpid())
REDIS_URL = os.environ.get("SATCHEL_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "SATCHEL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SATCHEL_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
CLEANUPS: list[t.Callable[[], None]] = []


def quiet_checks() -> None:
    """The bench app keeps Flask's defaults on purpose: skip satchel's start-up advice."""
    logging.getLogger("satchel.checks").setLevel(logging.ERROR)


class Skip(Exception):
    """A set-up whose server or package is not available here."""


def flask_builtin(app: Flask) -> None:
    pass  # Flask's own SecureCookieSessionInterface


def satchel_signed(app: Flask) -> None:
    satchel.Satchel(app)


def satchel_encrypted(app: Flask) -> None:
    app.config["SESSION_COOKIE_ENCRYPTED"] = True
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
    prefix = f"satchel-bench:{RUN}:"
    CLEANUPS.append(lambda: _drop_redis_prefix(prefix))
    return RedisStore(client, prefix=prefix)


def _satchel_sql(url: str) -> t.Callable[[], t.Any]:
    def make() -> t.Any:
        import sqlalchemy

        from satchel.stores.sql import SQLStore

        engine = sqlalchemy.create_engine(url)
        try:
            engine.connect().close()
        except sqlalchemy.exc.OperationalError as e:
            raise Skip(f"{url}: {e}") from e
        store = SQLStore(engine, table=f"satchel_bench_{RUN}")
        CLEANUPS.append(store.drop_table)
        return store

    return make


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
            prefix = f"fs-bench:{RUN}:"
            CLEANUPS.append(lambda: _drop_redis_prefix(prefix))
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


def floor(kind: str) -> t.Callable[[Flask], None]:
    """The hand-written minimum for ``kind``'s path (``bench/floors.py``)."""

    def setup(app: Flask) -> None:
        import floors

        secret = app.config["SECRET_KEY"]
        interface: t.Any
        try:
            if kind == "signed":
                interface = floors.SignedFloor(secret)
            elif kind == "encrypted":
                interface = floors.EncryptedFloor(secret)
            elif kind == "memory":
                interface = floors.MemoryFloor(secret)
            elif kind == "sqlite":
                interface = floors.SQLiteFloor(secret, str(TMP / "floor.db"))
            elif kind == "redis":
                prefix = f"floor-bench:{RUN}:"
                CLEANUPS.append(lambda: _drop_redis_prefix(prefix))
                interface = floors.RedisFloor(secret, _redis_client(), prefix)
            else:
                import sqlalchemy

                url = sqlalchemy.make_url(POSTGRES_URL if kind == "postgres" else MYSQL_URL)
                table = f"floor_bench_{RUN}"
                if kind == "postgres":
                    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
                    interface = floors.PostgresFloor(secret, dsn, table)
                else:
                    interface = floors.MySQLFloor(secret, url, table)
                CLEANUPS.append(interface.drop)
        except ImportError as e:
            raise Skip(str(e)) from e
        except Exception as e:  # a server that is not there
            raise Skip(f"floor-{kind}: {e}") from e
        app.session_interface = interface

    return setup


FLOORS = ["signed", "encrypted", "memory", "sqlite", "redis", "postgres", "mysql"]

#: name -> how to set up the app (None: no session at all)
SETUPS: dict[str, t.Callable[[Flask], None] | None] = {
    "none": None,
    "flask": flask_builtin,
    "satchel-signed": satchel_signed,
    "satchel-encrypted": satchel_encrypted,
    "satchel-memory": satchel_store(lambda: "memory://"),
    "satchel-sqlite": satchel_store(_satchel_sqlite),
    "satchel-postgres": satchel_store(_satchel_sql(POSTGRES_URL)),
    "satchel-mysql": satchel_store(_satchel_sql(MYSQL_URL)),
    "satchel-redis": satchel_store(_satchel_redis),
    **{f"floor-{kind}": floor(kind) for kind in FLOORS},
    "flask-session-redis": flask_session("redis"),
    "flask-session-cachelib": flask_session("cachelib"),
    "flask-session-sqlalchemy": flask_session("sqlalchemy"),
}


def _drop_redis_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


def cleanup() -> None:
    """Remove what this run stored, in every process of it (only in the process
    that chose the run): its tables, its Redis keys, its files."""
    if not OWNER:
        return
    for step in [
        *CLEANUPS,
        *(lambda url=url: _drop_table(url) for url in (POSTGRES_URL, MYSQL_URL)),
    ]:
        try:
            step()
        except Exception as e:  # a server gone away must not hide the results
            print(f"cleanup: {e}")
    for prefix in (f"satchel-bench:{RUN}:", f"fs-bench:{RUN}:"):
        try:
            _drop_redis_prefix(prefix)
        except Exception as e:
            print(f"cleanup: {e}")
    shutil.rmtree(TMP, ignore_errors=True)


def _drop_table(url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS satchel_bench_{RUN}"))
    finally:
        engine.dispose()
