"""Replicated Redis: the opt-in ``WAIT`` durability and the ``redis+sentinel://``
URL, against real servers (a master with a replica watched by three Sentinels,
and a Redis Cluster of three masters with a replica each, all on loopback)."""

from __future__ import annotations

import os
import signal
import time
import typing as t
from collections.abc import Iterator

import pytest
import redis

from satchel.exc import ConfigError, StoreUnavailable
from satchel.stores import Change, Record, store_from_url
from satchel.stores.redis import RedisStore

from ..conftest import Clock, cookie_of
from .cluster import HOST, LocalCluster, LocalSentinel
from .conftest import unavailable, unique
from .test_server_sessions import make_app, sid_of

NOW = int(time.time())  # Redis TTLs are relative, but keep records plausible


def record(user: str | None = "u") -> Record:
    return Record(data={"a": '"1"'}, created=NOW, expires=NOW + 600, user=user)


@pytest.fixture(scope="module")
def group() -> Iterator[LocalSentinel]:
    try:
        group = LocalSentinel.start()
    except (OSError, RuntimeError) as e:
        unavailable("a Redis master, replica and Sentinels (redis-server binary)", e)
    yield group
    group.stop()


@pytest.fixture(scope="module")
def replicated() -> Iterator[LocalCluster]:
    try:
        cluster = LocalCluster.start(replicas=1, node_timeout_ms=1000)
    except (OSError, RuntimeError) as e:
        unavailable("a replicated Redis Cluster (redis-server binary)", e)
    yield cluster
    cluster.stop()


class Paused:
    """SIGSTOP a server for a ``with`` block: it neither answers nor acknowledges."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def __exit__(self, *exc: object) -> None:
        os.kill(self.pid, signal.SIGCONT)


def durable_url(port: int, scheme: str = "redis") -> str:
    db = "/0" if scheme == "redis" else ""
    return f"{scheme}://{HOST}:{port}{db}?wait_replicas=1&wait_timeout_ms=300"


def test_every_acknowledged_write_is_already_on_the_replica(group: LocalSentinel) -> None:
    master, replica_port = group.master(), next(p for p in group.data_ports if p != group.master())
    store = RedisStore.from_url(durable_url(master), prefix=unique("satchel-test:") + ":")
    assert (store.wait_replicas, store.wait_timeout_ms) == (1, 300)
    replica = redis.Redis(host=HOST, port=replica_port, decode_responses=True)
    on_replica = RedisStore(replica, prefix=store.prefix)
    try:
        for i in range(30):  # without WAIT the replica would often lag a write behind
            key = f"{i:064x}"
            store.create(key, record())
            assert on_replica.load(key, NOW) == record()
            assert store.update(key, Change(set={"b": "2"}, expires=NOW + 900), NOW)
            loaded = on_replica.load(key, NOW)
            assert loaded is not None and loaded.data == {"a": '"1"', "b": "2"}
            assert store.take(key, NOW) is not None
            assert on_replica.load(key, NOW) is None
        store.create("d" * 64, record())
        assert replica.smembers(store.prefix + "u:u") == {"d" * 64}  # the index too
        store.delete("d" * 64)
        assert on_replica.load("d" * 64, NOW) is None
    finally:
        for key in store.client.scan_iter(match=store.prefix + "*"):
            store.client.delete(key)


def test_a_write_no_replica_confirms_is_a_503_not_an_acknowledgement(
    group: LocalSentinel,
) -> None:
    master = group.master()
    replica = next(p for p in group.data_ports if p != master)
    prefix = unique("satchel-test:") + ":"
    durable = RedisStore.from_url(durable_url(master), prefix=prefix)
    plain = RedisStore.from_url(f"redis://{HOST}:{master}/0", prefix=prefix)
    client = make_app(durable, Clock()).test_client()
    assert client.get("/set/n/1").status_code == 200
    with Paused(group.processes[replica].pid):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="did not confirm"):
            durable.create("e" * 64, record())
        assert time.monotonic() - started < 2  # bounded by wait_timeout_ms, not hanging
        plain.create("f" * 64, record())  # without the setting, acknowledged anyway
        assert client.get("/set/n/2").status_code == 503  # the user sees a failure
    assert client.get("/get/n").text == "'2'"  # in doubt: applied, then confirmed later
    assert client.get("/set/n/3").status_code == 200
    for key in plain.client.scan_iter(match=prefix + "*"):
        plain.client.delete(key)


def test_the_cluster_waits_on_the_node_that_took_the_write(replicated: LocalCluster) -> None:
    seed = replicated.masters()[0]
    store = t.cast(RedisStore, store_from_url(durable_url(seed, "redis+cluster")))
    store.prefix = unique("satchel-test:") + ":"
    keys = [f"{i:064x}" for i in range(24)]
    for key in keys:
        store.create(key, record(user=None))
    # Every key is on its master's replica as soon as the write returned.
    for key in keys:
        owner = store.client.get_node_from_key(store.prefix + key)
        port = replicated.replica_of(owner.port)
        follower = redis.Redis(host=HOST, port=port, single_connection_client=True)
        follower.execute_command("READONLY")  # a cluster replica serves reads only if asked
        assert follower.hget(store.prefix + key, "created") == str(NOW).encode()
    # With one master's replica silent, writes to its slots fail; the others do not.
    paused_master = replicated.masters()[0]
    replica = replicated.replica_of(paused_master)
    with Paused(replicated.processes[replica].pid):
        outcomes = {}
        for key in keys:
            owner = store.client.get_node_from_key(store.prefix + key).port
            try:
                store.touch(key, NOW + 700, NOW)
                outcomes[key] = (owner, True)
            except StoreUnavailable:
                outcomes[key] = (owner, False)
    assert {ok for owner, ok in outcomes.values() if owner == paused_master} == {False}
    assert {ok for owner, ok in outcomes.values() if owner != paused_master} == {True}
    for key in keys:
        store.delete(key)


@pytest.mark.parametrize(
    "query", ["wait_replicas=-1", "wait_timeout_ms=0", "wait_replicas=x", "wait_timeout_ms=1.5"]
)
def test_bad_durability_settings_are_refused(query: str) -> None:
    with pytest.raises(ConfigError):
        store_from_url(f"redis://{HOST}:6379/0?wait_replicas=1&{query}")


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:26379",  # no service name
        "redis+sentinel://127.0.0.1:26379/",
        "redis+sentinel://127.0.0.1/satchel",  # no port
        "redis+sentinel://127.0.0.1:26379/satchel/zero",
        "redis+sentinel://127.0.0.1:26379/satchel/0/extra",
    ],
)
def test_malformed_sentinel_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        store_from_url(url)


def test_sentinels_that_cannot_be_reached_mean_503() -> None:
    store = store_from_url("redis+sentinel://127.0.0.1:1,127.0.0.1:2/satchel/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.load("a" * 64, NOW)
    assert time.monotonic() - started < 2  # a prompt 503, not seconds of retries


def test_sentinel_url_follows_the_master_through_a_failover(group: LocalSentinel) -> None:
    # The last test of the module: it leaves the group without a replica.
    url = group.url + "?wait_replicas=1&wait_timeout_ms=500&socket_timeout=0.5"
    store = t.cast(RedisStore, store_from_url(url))
    store.prefix = unique("satchel-test:") + ":"
    client = make_app(store, Clock()).test_client()
    response = client.get("/set/n/1")
    assert response.status_code == 200
    assert sid_of(t.cast(str, cookie_of(response)))
    old = group.master()
    group.kill(old)
    deadline, statuses = time.monotonic() + 20, []
    while time.monotonic() < deadline:
        status = client.get("/get/n").status_code
        statuses.append(status)
        if status == 200:
            break
        time.sleep(0.1)
    assert statuses[-1] == 200 and set(statuses) <= {200, 503}, statuses
    assert group.master() != old
    # The session written (and confirmed by the replica) before the kill survived.
    assert client.get("/get/n").text == "'1'"
    # The new master has no replica left: durable writes are refused, not acknowledged.
    assert client.get("/set/n/2").status_code == 503
    store.wait_replicas = 0
    assert client.get("/set/n/3").status_code == 200
