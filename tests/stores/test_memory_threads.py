"""The memory store under threads, its size bound and its copies.

Eviction order is in ``test_memory.py``; the protocol in ``test_conformance.py``."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

import pytest

from satchel.stores import Change, MemoryStore, Record

NOW = 1_800_000_000


def record(n: int = 0, *, expires: int = NOW + 600, user: str | None = None) -> Record:
    return Record(data={"n": str(n)}, created=NOW, expires=expires, user=user)


def key(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def busy_switching() -> Iterator[None]:
    # Switch threads as often as CPython can, so that an unlocked read-modify-write loses.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def hammer(store: MemoryStore, threads: int = 8, rounds: int = 300) -> set[str]:
    store.create(key(0), Record(data={}, created=NOW, expires=NOW + 600))
    barrier = threading.Barrier(threads)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(rounds):
            store.update(key(0), Change(set={f"{i}-{j}": "1"}, expires=NOW + 600), NOW)
            if j % 7 == 0:  # readers and creators in the way, as in an app
                store.load(key(0), NOW)
                store.create(key(1000 + i * rounds + j), record(j))

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    loaded = store.load(key(0), NOW)
    assert loaded is not None
    return set(loaded.data) ^ {f"{i}-{j}" for i in range(threads) for j in range(rounds)}


def test_updates_from_many_threads_are_all_kept(busy_switching: None) -> None:
    assert hammer(MemoryStore()) == set()


def test_the_hammer_does_find_lost_updates_without_the_lock(busy_switching: None) -> None:
    # Proves the test above can fail: the same store with its lock taken out loses writes.
    lost = 0
    for _ in range(5):
        store = MemoryStore()
        store._lock = contextlib.nullcontext()  # type: ignore[assignment]
        lost += len(hammer(store))
        if lost:
            break
    assert lost > 0


def test_the_store_never_holds_more_than_its_bound() -> None:
    store = MemoryStore(max_sessions=3)
    for n in range(10):
        store.create(key(n), record(n))
    assert len(list(store.scan(NOW))) == 3
    assert [k for k, _ in store.scan(NOW)] == [key(7), key(8), key(9)]  # the newest


def test_the_least_recently_used_record_goes_first() -> None:
    store = MemoryStore(max_sessions=3)
    for n in (1, 2, 3):
        store.create(key(n), record(n))
    assert store.load(key(1), NOW) is not None  # used: now the most recent
    assert store.touch(key(2), NOW + 700, NOW)  # used too
    store.create(key(4), record(4))
    assert store.load(key(3), NOW) is None
    assert all(store.load(key(n), NOW) is not None for n in (1, 2, 4))
    assert store.update(key(1), Change(set={"x": "1"}, expires=NOW + 600), NOW)
    store.create(key(5), record(5))
    assert store.load(key(2), NOW) is None  # 4 and 1 were used since
    assert {k for k, _ in store.scan(NOW)} == {key(1), key(4), key(5)}


def test_records_go_in_and_out_as_copies() -> None:
    store = MemoryStore()
    original = record(1, user="u")
    store.create(key(1), original)
    original.data["n"] = "changed"
    for _, listed in store.sessions_of("u", NOW):
        listed.data["n"] = "changed"
    for _, scanned in store.scan(NOW):
        scanned.data["n"] = "changed"
    loaded = store.load(key(1), NOW)
    assert loaded is not None and loaded.data == {"n": "1"}
    loaded.data["n"] = "changed"
    again = store.load(key(1), NOW)
    assert again is not None and again.data == {"n": "1"}


def test_default_bound() -> None:
    assert MemoryStore().max_sessions == 100_000


def test_purge_really_frees_expired_records_in_batches() -> None:
    store = MemoryStore()
    for n in range(5):
        store.create(key(n), record(n, expires=NOW))  # expiring exactly now: purged
    store.create(key(9), record(9))
    assert list(store.purge(NOW, batch=2)) == [2, 2, 1]
    assert len(store._anonymous) + len(store._bound) == 1
    assert list(store.purge(NOW)) == []
