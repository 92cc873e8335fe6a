"""The store protocol, checked against every backend (see ``satchel/stores/base.py``)."""

from __future__ import annotations

import threading

import pytest

from satchel.ids import IdSigner
from satchel.server import ServerSessions
from satchel.stores import Change, Record, Store

NOW = 1_800_000_000


def record(
    data: dict[str, str] | None = None, *, expires: int = NOW + 600, user: str | None = None
) -> Record:
    return Record(
        data=data if data is not None else {"a": '"1"'},
        created=NOW - 10,
        expires=expires,
        user=user,
    )


def key(n: int = 0) -> str:
    return f"{n:064x}"


def test_create_then_load(store: Store) -> None:
    store.create(key(), record({"user": '"stzz"', "cart": "[1,2]", "u": '"王天祥"'}, user="42"))
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert loaded.data == {"user": '"stzz"', "cart": "[1,2]", "u": '"王天祥"'}
    assert (loaded.created, loaded.expires, loaded.user) == (NOW - 10, NOW + 600, "42")


def test_load_missing_and_expired(store: Store) -> None:
    assert store.load(key(1), NOW) is None
    store.create(key(), record(expires=NOW + 5))
    assert store.load(key(), NOW + 4) is not None
    assert store.load(key(), NOW + 5) is None


def test_loaded_record_is_a_copy(store: Store) -> None:
    store.create(key(), record({"a": "1"}))
    loaded = store.load(key(), NOW)
    assert loaded is not None
    loaded.data["b"] = "2"
    again = store.load(key(), NOW)
    assert again is not None and again.data == {"a": "1"}


def test_update_merges_onto_what_is_stored(store: Store) -> None:
    store.create(key(), record({"a": "1", "b": "2", "c": "3"}))
    assert store.update(key(), Change(set={"a": "10"}, expires=NOW + 900), NOW)
    assert store.update(key(), Change(set={"d": "4"}, delete=["b"], expires=NOW + 901), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert loaded.data == {"a": "10", "c": "3", "d": "4"}
    assert loaded.expires == NOW + 901


def test_update_replace_drops_other_keys(store: Store) -> None:
    store.create(key(), record({"a": "1", "b": "2"}))
    assert store.update(key(), Change(set={"c": "3"}, replace=True, expires=NOW + 600), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.data == {"c": "3"}


def test_update_binds_user(store: Store) -> None:
    store.create(key(), record())
    assert store.update(key(), Change(user="u-7", expires=NOW + 600), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.user == "u-7"
    assert store.update(key(), Change(set={"x": "1"}, expires=NOW + 600), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.user == "u-7"  # kept when not named


@pytest.mark.parametrize("gone", ["missing", "deleted", "taken", "expired"])
def test_nothing_brings_a_dead_record_back(store: Store, gone: str) -> None:
    if gone != "missing":
        store.create(key(), record(expires=NOW + 60))
    if gone == "deleted":
        store.delete(key())
    elif gone == "taken":
        assert store.take(key(), NOW) is not None
    now = NOW + 60 if gone == "expired" else NOW
    assert store.update(key(), Change(set={"x": "1"}, expires=now + 600), now) is False
    assert store.touch(key(), now + 600, now) is False
    assert store.take(key(), now) is None
    assert store.rename(key(), key(2), Change(expires=now + 600), now) is False
    assert store.load(key(), now) is None
    assert store.load(key(2), now) is None


def test_touch_extends_expiry_only(store: Store) -> None:
    store.create(key(), record({"a": "1"}, expires=NOW + 10))
    assert store.touch(key(), NOW + 1000, NOW)
    loaded = store.load(key(), NOW + 500)
    assert loaded is not None and loaded.data == {"a": "1"} and loaded.expires == NOW + 1000


def test_take_removes(store: Store) -> None:
    store.create(key(), record({"a": "1"}, user="u"))
    taken = store.take(key(), NOW)
    assert taken is not None and taken.data == {"a": "1"} and taken.user == "u"
    assert store.take(key(), NOW) is None
    assert store.load(key(), NOW) is None


def test_rename_moves_and_kills_the_old_key(store: Store) -> None:
    store.create(key(), record({"a": "1", "b": "2"}, user="u"))
    change = Change(set={"c": "3"}, delete=["a"], expires=NOW + 700)
    assert store.rename(key(), key(9), change, NOW)
    assert store.load(key(), NOW) is None
    moved = store.load(key(9), NOW)
    assert moved is not None
    assert moved.data == {"b": "2", "c": "3"}
    assert (moved.created, moved.expires, moved.user) == (NOW - 10, NOW + 700, "u")


def test_delete_is_idempotent(store: Store) -> None:
    store.create(key(), record())
    store.delete(key())
    store.delete(key())
    assert store.load(key(), NOW) is None


def test_purge_removes_only_expired_in_batches(store: Store) -> None:
    for n in range(25):
        store.create(key(n), record(expires=NOW - 1 if n % 5 else NOW + 600))
    counts = list(store.purge(NOW, batch=7))
    live = [n for n in range(25) if store.load(key(n), NOW) is not None]
    assert live == [0, 5, 10, 15, 20]
    if counts:  # stores whose server expires data itself yield nothing
        assert sum(counts) == 20 and max(counts) <= 7


def test_concurrent_updates_of_different_keys_all_survive(store: Store) -> None:
    store.create(key(), record({}))
    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(5):
                change = Change(set={f"k{i}-{j}": str(j)}, expires=NOW + 600)
                assert store.update(key(), change, NOW)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert set(loaded.data) == {f"k{i}-{j}" for i in range(workers) for j in range(5)}


def _race_update_with_delete(store: Store, k: str) -> None:
    barrier = threading.Barrier(2)

    def writer() -> None:
        barrier.wait()
        store.update(k, Change(set={"b": "2"}, expires=NOW + 600), NOW)

    def logout() -> None:
        barrier.wait()
        store.delete(k)

    threads = [threading.Thread(target=writer), threading.Thread(target=logout)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def test_concurrent_update_and_delete_never_resurrects(store: Store) -> None:
    for round_ in range(20):
        k = key(100 + round_)
        store.create(k, record({"a": "1"}))
        _race_update_with_delete(store, k)
        assert store.load(k, NOW) is None, f"round {round_}: the deleted session came back"


def test_concurrent_purgers_share_the_work(store: Store) -> None:
    for n in range(60):
        store.create(key(n), record(expires=NOW - 1))
    totals: list[int] = []

    def purge() -> None:
        totals.append(sum(store.purge(NOW, batch=5)))

    threads = [threading.Thread(target=purge) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(store.load(key(n), NOW) is None for n in range(60))
    if any(totals):
        assert sum(totals) == 60


def test_sessions_of_lists_a_users_live_sessions(store: Store) -> None:
    store.create(key(1), record({"a": "1"}, user="alice"))
    store.create(key(2), record({"b": "2"}, user="alice"))
    store.create(key(3), record(user="bob"))
    store.create(key(4), record(user="alice", expires=NOW - 1))  # expired
    store.create(key(5), record())  # anonymous
    store.create(key(6), record())
    assert store.update(key(6), Change(user="alice", expires=NOW + 600), NOW)  # bound at login
    store.create(key(7), record(user="alice"))
    store.delete(key(7))  # logged out
    assert store.rename(key(2), key(8), Change(expires=NOW + 600), NOW)  # regenerated
    listed = dict(store.sessions_of("alice", NOW))
    assert set(listed) == {key(1), key(6), key(8)}
    assert listed[key(1)].data == {"a": "1"} and listed[key(8)].data == {"b": "2"}
    assert [k for k, _ in store.sessions_of("bob", NOW)] == [key(3)]
    assert store.sessions_of("nobody", NOW) == []


def test_scan_yields_every_live_record(store: Store) -> None:
    for n in range(30):
        store.create(
            key(n), record({"n": str(n)}, expires=NOW + 600 if n % 3 else NOW - 1, user=f"u{n % 2}")
        )
    seen = {k: r for k, r in store.scan(NOW, batch=4)}
    assert set(seen) == {key(n) for n in range(30) if n % 3}
    assert seen[key(1)].data == {"n": "1"} and seen[key(1)].user == "u1"


def test_any_key_name_is_merged_and_deleted(store: Store) -> None:
    odd = ['we"ird', "dotted.name", "$[0]", "back\\slash", "王天祥", " spaced ", "*"]
    store.create(key(), record({name: f'"{n}"' for n, name in enumerate(odd)}))
    assert store.update(key(), Change(set={"new": "1"}, delete=odd[:4], expires=NOW + 600), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert loaded.data == {**{name: f'"{n}"' for n, name in enumerate(odd) if n >= 4}, "new": "1"}
    assert store.update(key(), Change(delete=odd[4:], expires=NOW + 600), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.data == {"new": "1"}


# -- user ids compare exactly (R44) ------------------------------------------

#: Ids a folding comparison would confuse: trailing spaces (MySQL's PAD SPACE
#: collations), case, and Unicode normalization (NFC "é" vs NFD "e" + U+0301).
LOOKALIKES = ["bob", "bob ", "bob  ", "Bob", "BOB", "caf\u00e9", "cafe\u0301", " bob"]


def _sessions_per_lookalike(store: Store) -> dict[str, str]:
    keys = {}
    for n, user in enumerate(LOOKALIKES):
        keys[user] = key(0xABCDEF00 + n)  # letters, to try an upper-case handle
        store.create(keys[user], record({"n": str(n)}, user=user))
    return keys


def test_sessions_of_compares_user_ids_exactly(store: Store) -> None:
    keys = _sessions_per_lookalike(store)
    for user in LOOKALIKES:
        listed = store.sessions_of(user, NOW)
        assert [k for k, _ in listed] == [keys[user]], repr(user)
        assert listed[0][1].user == user
    assert store.sessions_of("bob\t", NOW) == []


def _manager(store: Store) -> ServerSessions:
    return ServerSessions(
        store,
        IdSigner(["conformance-secret-0123456789abcdef"]),
        lifetime=600,
        absolute=None,
        refresh_margin=60,
        clock=lambda: NOW,
    )


def test_revoke_with_a_lookalike_user_ends_nothing(store: Store) -> None:
    keys = _sessions_per_lookalike(store)
    manager = _manager(store)
    for user in LOOKALIKES:
        for other in LOOKALIKES:
            if other != user:
                assert manager.revoke(keys[user], other) is False, (user, other)
        assert store.load(keys[user], NOW) is not None
    assert manager.revoke(keys["bob"] + " ", "bob") is False  # a padded handle
    assert manager.revoke(keys["bob"].upper(), "bob") is False
    assert store.load(keys["bob"], NOW) is not None
    for user in LOOKALIKES:
        assert manager.revoke(keys[user], user) is True
        assert store.load(keys[user], NOW) is None


def test_revoke_user_with_a_lookalike_ends_only_that_users_sessions(store: Store) -> None:
    keys = _sessions_per_lookalike(store)
    manager = _manager(store)
    assert [i.handle for i in manager.sessions_of("bob ")] == [keys["bob "]]
    for n, user in enumerate(LOOKALIKES):
        assert manager.revoke_user(user) == 1, repr(user)
        alive = {u for u in LOOKALIKES if store.load(keys[u], NOW) is not None}
        assert alive == set(LOOKALIKES[n + 1 :])


def test_revoke_for_a_user_costs_one_lookup_not_a_listing(store: Store) -> None:
    from .test_server_sessions import Counting

    counting = Counting(store)
    manager = _manager(counting)
    for n in range(20):
        store.create(key(n), record(user="many"))
    assert manager.revoke(key(999), "many") is False  # well formed, unknown
    assert manager.revoke("bogus", "many") is False  # malformed: not even looked up
    assert manager.revoke(key(3), "other") is False
    assert counting.calls == {"load": 2}
    assert manager.revoke(key(3), "many") is True
    assert counting.calls == {"load": 3, "take": 1}
    assert store.load(key(3), NOW) is None


# -- boundaries a mutation run found unpinned --------------------------------------------


def test_a_record_expiring_exactly_now_is_absent_everywhere(store: Store) -> None:
    # `expires` is the first second a record is dead: `expires <= now` means gone.
    # Each method meets its own record first (the memory store drops what it finds dead).
    for n in range(1, 8):
        store.create(key(n), record({"a": str(n)}, expires=NOW, user=f"u{n}"))
    store.create(key(20), record({"b": "2"}, expires=NOW + 1, user="u6"))
    assert [k for k, _ in store.sessions_of("u1", NOW - 1)] == [key(1)]
    assert store.sessions_of("u1", NOW) == []
    assert store.load(key(2), NOW - 1) is not None
    assert store.load(key(2), NOW) is None
    assert store.update(key(3), Change(set={"x": "1"}, expires=NOW + 600), NOW) is False
    assert store.touch(key(4), NOW + 600, NOW) is False
    assert store.take(key(5), NOW) is None
    assert [k for k, _ in store.sessions_of("u6", NOW)] == [key(20)]
    assert store.rename(key(7), key(8), Change(expires=NOW + 600), NOW) is False
    assert [k for k, _ in store.scan(NOW)] == [key(20)]
    for n in range(1, 9):
        assert store.load(key(n), NOW) is None, n  # none was brought back
    # ... and the record alive one second longer is live for every method:
    assert store.touch(key(20), NOW + 600, NOW)
    assert store.update(key(20), Change(set={"x": "1"}, expires=NOW + 600), NOW)
    taken = store.take(key(20), NOW)
    assert taken is not None and taken.data == {"b": "2", "x": "1"}


def test_purge_removes_records_expiring_exactly_now(store: Store) -> None:
    store.create(key(1), record(expires=NOW))
    store.create(key(2), record(expires=NOW + 1))
    counts = list(store.purge(NOW))
    assert store.load(key(2), NOW) is not None
    if counts:  # SQL stores; Redis expires keys itself
        assert counts == [1]
        assert store.load(key(1), NOW - 1) is None  # really deleted, not just hidden


@pytest.mark.parametrize("batch", [1, 2, 3])
@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_scan_yields_each_record_once_whatever_the_batch(store: Store, batch: int, n: int) -> None:
    for i in range(n):
        store.create(key(i), record({"n": str(i)}))
    store.create(key(99), record(expires=NOW - 1))
    seen = [k for k, _ in store.scan(NOW, batch=batch)]
    assert sorted(seen) == [key(i) for i in range(n)]  # none twice, none missing


def test_purge_in_batches_of_one_deletes_every_expired_record(store: Store) -> None:
    for n in range(5):
        store.create(key(n), record(expires=NOW - 1))
    store.create(key(9), record())
    counts = list(store.purge(NOW, batch=1))
    if counts:
        assert counts == [1, 1, 1, 1, 1]
    assert [k for k, _ in store.scan(NOW)] == [key(9)]


def test_touch_sets_the_expiry_it_is_given(store: Store) -> None:
    store.create(key(), record(expires=NOW + 600))
    assert store.touch(key(), NOW + 100, NOW)  # the caller decides, even earlier
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.expires == NOW + 100
    assert store.load(key(), NOW + 100) is None


def test_update_keeps_creation_time_and_data_it_does_not_name(store: Store) -> None:
    store.create(key(), record({"a": "1", "b": "2"}, user="u"))
    assert store.update(key(), Change(delete=["a"], expires=NOW + 50), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert (loaded.data, loaded.created, loaded.expires, loaded.user) == (
        {"b": "2"},
        NOW - 10,
        NOW + 50,
        "u",
    )
    assert store.update(key(), Change(set={"c": "3"}, replace=True, expires=NOW + 60), NOW)
    loaded = store.load(key(), NOW)
    assert loaded is not None
    assert (loaded.data, loaded.created, loaded.user) == ({"c": "3"}, NOW - 10, "u")


def test_create_replaces_and_stores_a_copy(store: Store) -> None:
    data = {"a": "1"}
    store.create(key(), record(data))
    data["b"] = "2"  # the caller's dict is not the stored one
    store.create(key(), record({"z": "9"}, user="v"))
    loaded = store.load(key(), NOW)
    assert loaded is not None and loaded.data == {"z": "9"} and loaded.user == "v"


def test_rename_binds_the_user_it_names(store: Store) -> None:
    store.create(key(), record({"a": "1"}))
    assert store.rename(key(), key(5), Change(user="bob", expires=NOW + 600), NOW)
    assert [k for k, _ in store.sessions_of("bob", NOW)] == [key(5)]
    moved = store.load(key(5), NOW)
    assert moved is not None and moved.user == "bob" and moved.data == {"a": "1"}
    assert store.rename(key(5), key(6), Change(replace=True, set={"b": "2"}, expires=NOW + 9), NOW)
    moved = store.load(key(6), NOW)
    assert moved is not None and moved.data == {"b": "2"} and moved.user == "bob"
    assert moved.expires == NOW + 9


def test_take_and_delete_leave_other_records_alone(store: Store) -> None:
    store.create(key(1), record({"a": "1"}, user="alice"))
    store.create(key(2), record({"b": "2"}, user="alice"))
    assert store.take(key(1), NOW) is not None
    store.delete(key(3))
    assert [k for k, _ in store.sessions_of("alice", NOW)] == [key(2)]
    loaded = store.load(key(2), NOW)
    assert loaded is not None and loaded.data == {"b": "2"}


def test_listed_and_scanned_records_are_whole(store: Store) -> None:
    store.create(key(1), Record(data={"a": "1"}, created=NOW - 7, expires=NOW + 70, user="ann"))
    want = (NOW - 7, NOW + 70, "ann", {"a": "1"})
    for listed in (dict(store.sessions_of("ann", NOW)), dict(store.scan(NOW))):
        r = listed[key(1)]
        assert (r.created, r.expires, r.user, r.data) == want
