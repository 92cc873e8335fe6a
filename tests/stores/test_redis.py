"""What is particular to the Redis store: URLs, key layout and TTLs, the
cluster, and the store-down drill against a real server that is stopped and
started again. The protocol itself is checked by ``test_conformance.py``."""

from __future__ import annotations

import re
import signal
import subprocess
import time
import typing as t
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from satchel.exc import ConfigError, StoreUnavailable
from satchel.ids import hash_id
from satchel.stores import Change, Record, Store, store_from_url
from satchel.stores.redis import RedisStore

from ..conftest import Clock, cookie_of
from .cluster import HOST, LocalCluster, free_port, start_server, stop_process, wait_for
from .conftest import REDIS_URL, unavailable, unique
from .test_server_sessions import make_app, sid_of

NOW = 1_800_000_000
HEX_KEY = re.compile(r"[0-9a-f]{64}")


def record(data: dict[str, str] | None = None, *, ttl: int = 600) -> Record:
    return Record(data=data or {"a": '"1"'}, created=NOW, expires=NOW + ttl, user="u")


def round_trip(store: Store) -> None:
    """Every operation once, on a key of its own."""
    store.create("k" * 64, record({"a": "1", "b": "2"}))
    assert store.update("k" * 64, Change(set={"c": "3"}, delete=["a"], expires=NOW + 900), NOW)
    assert store.touch("k" * 64, NOW + 1000, NOW)
    loaded = store.load("k" * 64, NOW)
    assert loaded is not None and loaded.data == {"b": "2", "c": "3"}
    assert loaded.expires == NOW + 1000 and loaded.user == "u"
    assert store.update("k" * 64, Change(set={"c": "4"}, replace=True, expires=NOW + 900), NOW)
    loaded = store.load("k" * 64, NOW)
    assert loaded is not None and loaded.data == {"c": "4"}
    assert (loaded.created, loaded.expires, loaded.user) == (NOW, NOW + 900, "u")
    assert store.rename("k" * 64, "m" * 64, Change(expires=NOW + 600), NOW)
    taken = store.take("m" * 64, NOW)
    assert taken is not None and taken.data == {"c": "4"} and taken.user == "u"
    store.create("k" * 64, record())
    store.delete("k" * 64)
    assert store.load("k" * 64, NOW) is None
    assert list(store.purge(NOW)) == []


def drop(client: t.Any, prefix: str) -> None:
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as e:
        unavailable("Redis", e)
    yield client
    client.close()


@pytest.fixture
def cluster_client(redis_cluster_nodes: list[tuple[str, int]]) -> Iterator[RedisCluster]:
    client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in redis_cluster_nodes])
    yield client
    client.close()


# -- URLs and clients ---------------------------------------------------------


def test_store_from_redis_url(redis_client: redis.Redis) -> None:
    store = store_from_url(REDIS_URL)
    assert isinstance(store, RedisStore) and store.prefix == "satchel:"
    store.prefix = prefix = unique("satchel-test:") + ":"
    try:
        round_trip(store)
    finally:
        drop(redis_client, prefix)
        store.close()


def test_store_from_cluster_url(
    redis_cluster_nodes: list[tuple[str, int]], cluster_client: RedisCluster
) -> None:
    host, port = redis_cluster_nodes[0]
    store = store_from_url(f"redis+cluster://{host}:{port}")
    assert isinstance(store, RedisStore) and isinstance(store.client, RedisCluster)
    store.prefix = prefix = unique("satchel-test:") + ":"
    try:
        round_trip(store)
    finally:
        drop(cluster_client, prefix)
        store.close()


@pytest.mark.parametrize("decode", [False, True])
def test_a_client_object_is_used_as_it_is(decode: bool, redis_client: redis.Redis) -> None:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=decode)
    store = store_from_url(client)
    assert isinstance(store, RedisStore) and store.client is client
    store.prefix = prefix = unique("satchel-test:") + ":"
    try:
        round_trip(store)
        store.create("u" * 64, record({"u": '"王天祥"'}))
        loaded = store.load("u" * 64, NOW)
        assert loaded is not None and loaded.data == {"u": '"王天祥"'}
    finally:
        drop(redis_client, prefix)
        client.close()


def test_a_cluster_client_object_is_used_as_it_is(cluster_client: RedisCluster) -> None:
    store = store_from_url(cluster_client)
    assert isinstance(store, RedisStore) and store.client is cluster_client
    store.prefix = prefix = unique("satchel-test:") + ":"
    try:
        round_trip(store)
    finally:
        drop(cluster_client, prefix)


def test_an_asyncio_client_is_refused() -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    with pytest.raises(ConfigError, match="RedisStore needs a redis"):
        store_from_url(client)


def test_an_unreachable_cluster_url_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        store_from_url(f"redis+cluster://{HOST}:{free_port()}?socket_connect_timeout=1")


# -- what lands in Redis --------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
def test_keys_are_hashed_ids_with_the_idle_ttl(
    backend: str, store_factory: t.Callable[[str], Store], clock: Clock
) -> None:
    store = store_factory(backend)
    assert isinstance(store, RedisStore)
    app = make_app(store, clock, PERMANENT_SESSION_LIFETIME=3600)
    client = app.test_client()
    value = cookie_of(client.get("/login/stzz"))
    assert value is not None
    sid = sid_of(value)

    keys = [k.decode() for k in store.client.scan_iter(match=store.prefix + "*")]
    assert keys == [store.prefix + hash_id(sid)]
    assert HEX_KEY.fullmatch(keys[0].removeprefix(store.prefix))
    assert 3590 <= store.client.ttl(keys[0]) <= 3600  # the injected clock is not the server's
    fields = store.client.hgetall(keys[0])
    assert fields == {
        b"d:user": b'"stzz"',
        b"created": str(int(clock.now)).encode(),
        b"expires": str(int(clock.now) + 3600).encode(),
    }
    assert not any(sid.encode() in k or sid.encode() in v for k, v in fields.items())

    clock.advance(1000)  # an update sets the TTL from the caller's time again
    client.get("/set/cart/x")
    assert 3590 <= store.client.ttl(keys[0]) <= 3600


# -- the cluster --------------------------------------------------------------


def test_sessions_spread_over_the_masters(store_factory: t.Callable[[str], Store]) -> None:
    store = store_factory("redis-cluster")
    assert isinstance(store, RedisStore) and isinstance(store.client, RedisCluster)
    keys = [hash_id(f"session-{n}") for n in range(50)]
    for n, key in enumerate(keys):
        store.create(key, record({"n": str(n)}))
    holders = {
        node.name: sum(
            1
            for k in node.redis_connection.scan_iter(match=store.prefix + "*")
            if len(k) == len(store.prefix) + 64  # sessions, not user indexes
        )
        for node in store.client.get_primaries()
    }
    assert sum(holders.values()) == 50
    assert sum(1 for count in holders.values() if count) > 1, holders
    for n, key in enumerate(keys):  # every operation, on keys all over the cluster
        assert store.update(key, Change(set={"m": str(n)}, expires=NOW + 700), NOW)
        assert store.touch(key, NOW + 800, NOW)
        loaded = store.load(key, NOW)
        assert loaded is not None and loaded.data == {"n": str(n), "m": str(n)}
        assert store.rename(key, hash_id(f"moved-{n}"), Change(expires=NOW + 600), NOW)
        assert store.load(key, NOW) is None
        assert store.take(hash_id(f"moved-{n}"), NOW) is not None
        store.delete(hash_id(f"moved-{n}"))
    assert not [k for k in store.client.scan_iter(match=store.prefix + "*") if b":u:" not in k]


def test_a_master_going_down_and_coming_back() -> None:
    try:
        cluster = LocalCluster.start()  # its own: this one gets broken
    except (OSError, RuntimeError) as e:
        unavailable("a Redis Cluster (redis-server binary)", e)
    try:
        host, port = cluster.nodes[0]
        store = RedisStore.from_url(
            f"redis+cluster://{host}:{port}?socket_timeout=1&socket_connect_timeout=1"
        )
        assert isinstance(store.client, RedisCluster)
        keys = [hash_id(f"session-{n}") for n in range(30)]
        for key in keys:
            store.create(key, record())
        victim = cluster.ports[1]
        on_victim = {
            k for k in keys if store.client.get_node_from_key(store.prefix + k).port == victim
        }
        assert 0 < len(on_victim) < len(keys)

        cluster.stop_node(victim)
        started = time.monotonic()
        for key in keys:  # within cluster-node-timeout (15 s) the others go on serving
            if key in on_victim:
                with pytest.raises(StoreUnavailable):
                    store.load(key, NOW)
            else:
                assert store.load(key, NOW) is not None
        assert time.monotonic() - started < 10

        cluster.start_node(victim)  # back with its slots, without its data (no persistence)
        cluster.wait_ok()
        for key in keys:  # the same client finds its way back
            assert (store.load(key, NOW) is None) == (key in on_victim)
        lost = next(iter(on_victim))
        store.create(lost, record())
        assert store.load(lost, NOW) is not None
        store.close()
    finally:
        cluster.stop()


# -- the store-down drill -------------------------------------------------------


class Server:
    """A redis-server of our own, persisting every write, to stop and restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_server(
            self.port, self.directory, "--appendonly", "yes", "--appendfsync", "always"
        )
        wait_for(self.port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    try:
        server.start()
    except (OSError, RuntimeError) as e:
        unavailable("redis-server", e)
    yield server
    server.stop()


def test_store_down_drill(own_server: Server, clock: Clock) -> None:
    url = f"redis://{HOST}:{own_server.port}/0?socket_timeout=1&socket_connect_timeout=1"
    store = RedisStore.from_url(url)
    app = make_app(store, clock)
    client = app.test_client()
    value = cookie_of(client.get("/login/stzz"))
    assert value is not None
    key = hash_id(sid_of(value))
    assert client.get("/get/user").text == "'stzz'"

    own_server.stop()
    started = time.monotonic()
    response = client.get("/get/user")
    assert response.status_code == 503
    assert "session store cannot be reached" in response.text
    assert response.headers["Retry-After"] == "1"
    assert client.get("/set/user/mallory").status_code == 503  # not written, see below
    assert client.get("/none").text == "untouched"  # requests that skip the session work
    now = int(clock.now)
    for operation in (
        lambda: store.load(key, now),
        lambda: store.create(key, record()),
        lambda: store.update(key, Change(set={"x": "1"}, expires=now + 60), now),
        lambda: store.touch(key, now + 60, now),
        lambda: store.take(key, now),
        lambda: store.delete(key),
    ):
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            operation()
    assert time.monotonic() - started < 10  # failing fast, not hanging

    own_server.start()  # same port, same directory: the data is back
    assert client.get("/get/user").text == "'stzz'"  # same app, same client, no restart
    assert client.get("/set/cart/x").status_code == 200
    assert client.get("/dump").text == repr([("cart", "x"), ("user", "stzz")])
    store.close()


def test_a_hung_server_times_out(own_server: Server) -> None:
    store = RedisStore.from_url(f"redis://{HOST}:{own_server.port}/0?socket_timeout=0.5")
    assert store.load(hash_id("x"), NOW) is None
    assert own_server.process is not None
    own_server.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.load(hash_id("x"), NOW)  # read-only: nothing left to land later
        assert time.monotonic() - started < 5
    finally:
        own_server.process.send_signal(signal.SIGCONT)
    assert store.load(hash_id("x"), NOW) is None
    store.close()


@pytest.mark.parametrize("backend", ["redis", "redis-cluster"])
def test_a_renamed_session_keeps_a_ttl_from_now(
    store_factory: t.Callable[[str], Store], backend: str
) -> None:
    store = store_factory(backend)
    assert isinstance(store, RedisStore)
    old, new = hash_id("old"), hash_id("new")
    # a session created long ago, renamed (regenerated) now, living 600 s more
    store.create(old, Record(data={"a": "1"}, created=NOW - 5000, expires=NOW + 600))
    assert store.rename(old, new, Change(expires=NOW + 600), NOW)
    ttl = store.client.ttl(store.prefix + new)
    assert 590 <= ttl <= 600, ttl


# -- promises a mutation run found unpinned -------------------------------------------------


@pytest.fixture(params=[False, True], ids=["bytes", "decoded"])
def any_client_store(
    request: pytest.FixtureRequest, redis_client: redis.Redis
) -> Iterator[RedisStore]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=request.param)
    prefix = unique("satchel-test:") + ":"
    yield RedisStore(client, prefix=prefix)
    drop(redis_client, prefix)
    client.close()


def ttl(store: RedisStore, key: str) -> int:
    return int(store.client.ttl(store.prefix + key))


def test_ttls_follow_the_expiry_from_the_callers_now(any_client_store: RedisStore) -> None:
    store, k = any_client_store, "a" * 64
    store.create(k, Record(data={"a": "1"}, created=NOW - 100, expires=NOW + 500))
    assert 595 <= ttl(store, k) <= 600  # expires - created: exact for a new session
    assert store.touch(k, NOW + 1000, NOW)
    assert 995 <= ttl(store, k) <= 1000  # moved later: expires - now
    assert store.touch(k, NOW + 200, NOW)
    assert 195 <= ttl(store, k) <= 200  # and earlier, when the caller says so
    assert store.update(k, Change(set={"b": "2"}, expires=NOW + 700), NOW)
    assert 695 <= ttl(store, k) <= 700
    assert store.update(k, Change(set={"c": "3"}, replace=True, expires=NOW + 800), NOW)
    assert 795 <= ttl(store, k) <= 800
    loaded = store.load(k, NOW)
    assert loaded is not None and loaded.data == {"c": "3"} and loaded.created == NOW - 100
    assert loaded.expires == NOW + 800


def test_every_operation_works_with_either_client(any_client_store: RedisStore) -> None:
    store = any_client_store
    store.create("a" * 64, Record(data={"x": '"王"'}, created=NOW, expires=NOW + 60, user="ü"))
    store.create("b" * 64, Record(data={}, created=NOW, expires=NOW, user="ü"))  # dead now
    store.create("c" * 64, Record(data={"y": "1"}, created=NOW, expires=NOW + 60))
    assert [k for k, _ in store.sessions_of("ü", NOW)] == ["a" * 64]
    assert sorted(k for k, _ in store.scan(NOW, batch=1)) == ["a" * 64, "c" * 64]
    assert store.load("b" * 64, NOW) is None and store.take("b" * 64, NOW) is None
    assert store.touch("b" * 64, NOW + 60, NOW) is False
    assert store.update("b" * 64, Change(expires=NOW + 60), NOW) is False
    assert store.update("c" * 64, Change(user="ü", expires=NOW + 60), NOW)
    assert sorted(k for k, _ in store.sessions_of("ü", NOW)) == ["a" * 64, "c" * 64]
    taken = store.take("a" * 64, NOW)
    assert taken is not None
    assert (taken.data, taken.created, taken.expires, taken.user) == (
        {"x": '"王"'},
        NOW,
        NOW + 60,
        "ü",
    )
    assert [k for k, _ in store.sessions_of("ü", NOW)] == ["c" * 64]
    members = {
        m if isinstance(m, str) else m.decode() for m in store.client.smembers(store.prefix + "u:ü")
    }
    assert members == {"c" * 64}  # taken and dead members pruned from the index


def test_a_user_index_is_not_listed_as_a_session(any_client_store: RedisStore) -> None:
    store = any_client_store
    store.create("a" * 64, Record(data={}, created=NOW, expires=NOW + 60, user="u"))
    assert [k for k, _ in store.scan(NOW)] == ["a" * 64]


def test_create_replaces_every_field(any_client_store: RedisStore) -> None:
    store = any_client_store
    store.create("a" * 64, Record(data={"old": "1"}, created=NOW, expires=NOW + 60, user="u"))
    store.create("a" * 64, Record(data={"new": "2"}, created=NOW + 1, expires=NOW + 61))
    loaded = store.load("a" * 64, NOW)
    assert loaded is not None
    assert (loaded.data, loaded.created, loaded.user) == ({"new": "2"}, NOW + 1, None)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_operation_on_a_closed_port_is_store_unavailable() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    change = Change(set={"a": "1"}, expires=NOW + 60)
    operations: list[t.Callable[[], t.Any]] = [
        lambda: store.load("a" * 64, NOW),
        lambda: store.create("a" * 64, record()),
        lambda: store.update("a" * 64, change, NOW),
        lambda: store.touch("a" * 64, NOW + 60, NOW),
        lambda: store.take("a" * 64, NOW),
        lambda: store.delete("a" * 64),
        lambda: store.rename("a" * 64, "b" * 64, change, NOW),
        lambda: store.sessions_of("u", NOW),
        lambda: list(store.scan(NOW)),
    ]
    for operation in operations:
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            operation()
    assert list(store.purge(NOW)) == []  # nothing to do: Redis expires keys itself
    store.close()


def test_a_closed_port_answers_503_through_flask(clock: Clock) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{_closed_port()}/0")
    app = make_app(store, clock)
    client = app.test_client()
    assert client.get("/none").status_code == 200
    response = client.get("/set/user/stzz")
    assert response.status_code == 503 and cookie_of(response) is None
    from satchel.stores import MemoryStore

    value = cookie_of(make_app(MemoryStore(), clock).test_client().get("/set/user/stzz"))
    replay = app.test_client(use_cookies=False)
    response = replay.get("/get/user", headers={"Cookie": f"session={value}"})  # a load
    assert response.status_code == 503 and cookie_of(response) is None
