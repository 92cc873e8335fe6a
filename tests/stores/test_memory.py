"""The memory store's bound: who is evicted, and at what cost (R47)."""

from __future__ import annotations

import typing as t
from collections import OrderedDict

from satchel.stores import Change, MemoryStore, Record

from ..conftest import Clock
from .test_users import make_app

NOW = 1_800_000_000


def key(n: int) -> str:
    return f"{n:064x}"


def record(user: str | None = None, expires: int = NOW + 600) -> Record:
    return Record(data={"a": "1"}, created=NOW, expires=expires, user=user)


class Examining(OrderedDict[str, Record]):
    """An OrderedDict that counts the entries anybody iterates over."""

    examined = 0

    def __iter__(self) -> t.Iterator[str]:
        for k in super().__iter__():
            Examining.examined += 1
            yield k

    def items(self) -> t.Any:
        return ((k, self[k]) for k in self)

    def values(self) -> t.Any:
        return (self[k] for k in self)


def examining(store: MemoryStore) -> MemoryStore:
    store._anonymous = Examining(store._anonymous)
    store._bound = Examining(store._bound)
    Examining.examined = 0
    return store


def test_an_anonymous_flood_keeps_every_signed_in_user(clock: Clock) -> None:
    store = MemoryStore(max_sessions=50)
    app = make_app(store, clock)
    users = {}
    for n in range(20):
        users[f"user{n}"] = client = app.test_client()
        assert client.get(f"/login/user{n}").status_code == 200
    for _ in range(500):  # cookieless visitors who put something in the session
        assert app.test_client().get("/browse").status_code == 200
    for name, client in users.items():
        assert client.get("/whoami").text == name
    assert len(list(store.scan(int(clock.now)))) == 50


def test_anonymous_sessions_go_least_recently_used_first() -> None:
    store = MemoryStore(max_sessions=3)
    store.create(key(1), record())
    store.create(key(2), record(user="alice"))
    store.create(key(3), record())
    assert store.load(key(1), NOW) is not None  # now more recent than 3
    store.create(key(4), record())
    assert store.load(key(3), NOW) is None
    assert all(store.load(key(n), NOW) is not None for n in (1, 2, 4))


def test_bound_sessions_go_only_when_no_anonymous_one_is_left() -> None:
    store = MemoryStore(max_sessions=3)
    for n in (1, 2, 3):
        store.create(key(n), record(user=f"u{n}"))
    assert store.load(key(1), NOW) is not None
    store.create(key(9), record())  # anonymous, in a full store of users: it goes itself
    assert store.load(key(9), NOW) is None
    store.create(key(4), record(user="u4"))  # a login: the least recently used user goes
    assert store.load(key(2), NOW) is None
    assert [k for k, _ in store.sessions_of("u2", NOW)] == []
    assert all(store.load(key(n), NOW) is not None for n in (1, 3, 4))


def test_a_session_bound_by_update_is_kept_as_a_users() -> None:
    store = MemoryStore(max_sessions=2)
    store.create(key(1), record())
    assert store.update(key(1), Change(user="alice", expires=NOW + 600), NOW)
    store.create(key(2), record())
    store.create(key(3), record())
    assert store.load(key(1), NOW) is not None
    assert [k for k, _ in store.sessions_of("alice", NOW)] == [key(1)]


def test_an_expired_session_goes_before_a_live_anonymous_one() -> None:
    store = MemoryStore(max_sessions=2)
    store.create(key(1), record(user="gone", expires=NOW - 1))
    store.create(key(2), record())
    store.create(key(3), Record(data={}, created=NOW, expires=NOW + 600))
    assert store.load(key(2), NOW) is not None and store.load(key(3), NOW) is not None


def test_eviction_work_stays_flat_as_the_store_fills() -> None:
    store = MemoryStore(max_sessions=2000)
    for n in range(1000):
        store.create(key(n), record(user=f"u{n % 50}"))
    for n in range(1000, 2000):
        store.create(key(n), record())
    examining(store)
    for n in range(2000, 7000):  # 5000 creations past the bound
        store.create(key(n), record())
    assert Examining.examined <= 5000 * 3  # a few looks each, not a scan of 2000


def test_sessions_of_reads_only_that_users_sessions() -> None:
    store = MemoryStore()
    for n in range(3000):
        store.create(key(n), record(user="alice" if n in (7, 2500) else f"u{n}"))
    examining(store)
    assert [k for k, _ in store.sessions_of("alice", NOW)] == [key(7), key(2500)]
    assert Examining.examined == 0
