"""One ``store`` fixture over every backend, each isolated and cleaned up.

Servers come from the environment (``SATCHEL_TEST_POSTGRES_URL``,
``SATCHEL_TEST_MYSQL_URL``, ``SATCHEL_TEST_REDIS_URL``, with this machine's
defaults). A backend whose server is unreachable is skipped, or fails when
``SATCHEL_REQUIRE_SERVICES=1`` (as CI sets). Each test gets its own table or
key prefix, dropped afterwards, so nothing depends on leftovers.
"""

from __future__ import annotations

import os
import secrets
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest

from satchel.stores import MemoryStore, Store

POSTGRES_URL = os.environ.get(
    "SATCHEL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SATCHEL_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = os.environ.get("SATCHEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE = os.environ.get("SATCHEL_REQUIRE_SERVICES") == "1"

BACKENDS = ["memory", "sqlite", "postgres", "mysql", "redis", "redis-cluster"]


def unavailable(what: str, error: BaseException | None = None) -> t.NoReturn:
    message = f"{what} is not reachable" + (f": {error}" if error else "")
    if REQUIRE:
        pytest.fail(message + " (SATCHEL_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def redis_cluster_nodes() -> Iterator[list[tuple[str, int]]]:
    """A real 3-master Redis Cluster on loopback, started from redis-server."""
    from .cluster import start_cluster

    try:
        nodes, stop = start_cluster()
    except (OSError, RuntimeError) as e:
        unavailable("a Redis Cluster (redis-server binary)", e)
    try:
        yield nodes
    finally:
        stop()


def make_store(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Yield a fresh, isolated store of backend ``name``; drop its data after."""
    if name == "memory":
        yield MemoryStore()
        return
    if name == "sqlite":
        from satchel.stores.sqlite import SQLiteStore

        store: Store = SQLiteStore(str(tmp_path / "sessions.db"))
        yield store
        store.close()
        return
    if name in ("postgres", "mysql"):
        import sqlalchemy

        from satchel.stores.sql import SQLStore

        url = POSTGRES_URL if name == "postgres" else MYSQL_URL
        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect():
                pass
        except Exception as e:
            engine.dispose()
            unavailable(name, e)
        sql_store = SQLStore(engine, table=unique("satchel_test_"))
        try:
            yield sql_store
        finally:
            sql_store.drop_table()
            engine.dispose()
        return
    if name == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.ping()
        except redis.RedisError as e:
            unavailable("Redis", e)
        from satchel.stores.redis import RedisStore

        prefix = unique("satchel-test:") + ":"
        yield RedisStore(client, prefix=prefix)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()
        return
    if name == "redis-cluster":
        from redis.cluster import ClusterNode, RedisCluster

        from satchel.stores.redis import RedisStore

        nodes = request.getfixturevalue("redis_cluster_nodes")
        cluster = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in nodes])
        prefix = unique("satchel-test:") + ":"
        yield RedisStore(cluster, prefix=prefix)
        for key in cluster.scan_iter(match=prefix + "*"):
            cluster.delete(key)
        cluster.close()
        return
    raise ValueError(name)


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend in turn."""
    yield from make_store(request.param, tmp_path, request)


@pytest.fixture
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> t.Callable[[str], Store]:
    """Make stores of a named backend inside a test (cleaned up after it)."""
    generators: list[Iterator[Store]] = []

    def factory(name: str) -> Store:
        gen = make_store(name, tmp_path, request)
        generators.append(gen)
        return next(gen)

    yield factory  # type: ignore[misc]
    for gen in generators:
        for _ in gen:
            pass
