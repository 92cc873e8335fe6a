"""Signed cookies revoked through a per-user not-before time (R15), and
login/logout in cookie mode."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask, session

import satchel
from satchel import ConfigError, Satchel, StoreUnavailable
from satchel.stores import MemoryStore, Store

from .conftest import Clock, cookie_of


def make_app(clock: Clock, store: Store | None) -> Flask:
    app = Flask("revocation_app")
    app.config.update(SECRET_KEY="revocation-secret-0123456789abcdef")
    if store is not None:
        app.config["SESSION_REVOCATION_STORE"] = store
    Satchel(app, clock=clock)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        satchel.login(user)
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user", "anonymous"))

    @app.route("/revoke-others")
    def revoke_others() -> str:
        return str(satchel.revoke_user(session["user"], keep_current=True))

    @app.route("/revoke-all")
    def revoke_all() -> str:
        return str(satchel.revoke_user(session["user"], keep_current=False))

    @app.route("/logout")
    def logout() -> str:
        satchel.logout()
        return "ok"

    @app.route("/devices")
    def devices() -> str:
        return repr(satchel.sessions_of(session["user"]))

    return app


def test_revoke_user_ends_the_users_other_cookies(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())
    laptop, phone, bob = app.test_client(), app.test_client(), app.test_client()
    laptop.get("/login/alice")
    phone.get("/login/alice")
    bob.get("/login/bob")
    stolen = phone.get_cookie("session")
    assert stolen is not None
    clock.advance(10)
    laptop.get("/revoke-others")
    assert laptop.get("/whoami").text == "alice"
    assert phone.get("/whoami").text == "anonymous"
    assert bob.get("/whoami").text == "bob"
    replay = app.test_client(use_cookies=False)
    assert replay.get("/whoami", headers={"Cookie": f"session={stolen.value}"}).text == "anonymous"
    clock.advance(10)
    phone.get("/login/alice")  # logging in again works
    assert phone.get("/whoami").text == "alice"


def test_revoke_all_includes_the_current_cookie(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())
    client = app.test_client()
    client.get("/login/alice")
    clock.advance(5)
    client.get("/revoke-all")
    assert client.get("/whoami").text == "anonymous"


def test_without_opting_in_cookie_revocation_is_refused_clearly(clock: Clock) -> None:
    app = make_app(clock, None)
    app.testing = True
    client = app.test_client()
    client.get("/login/alice")
    with pytest.raises(ConfigError, match="SESSION_REVOCATION_STORE"):
        client.get("/revoke-others")
    with pytest.raises(ConfigError, match="SESSION_STORE"):
        client.get("/devices")


def test_without_opting_in_the_cookie_is_flasks(clock: Clock) -> None:
    app = make_app(clock, None)
    value = cookie_of(app.test_client().get("/login/alice"))
    s = app.session_interface.get_signing_serializer(app)
    assert s.loads(value) == {"user": "alice"}  # no hidden keys


def test_login_reissues_and_logout_deletes_in_cookie_mode(clock: Clock) -> None:
    app = make_app(clock, None)
    client = app.test_client()
    first = cookie_of(client.get("/login/alice"))
    clock.advance(1)
    second = cookie_of(client.get("/login/alice"))
    assert first and second and first != second
    assert cookie_of(client.get("/logout")) == ""
    assert client.get("/whoami").text == "anonymous"


class Down(MemoryStore):
    """A store that is unreachable (unit-test stand-in; real outages are tested on Redis)."""

    def load(self, key: str, now: int) -> t.Any:
        raise StoreUnavailable("down")


def test_revocation_store_down_fails_closed(clock: Clock) -> None:
    store = Down()
    app = make_app(clock, store)
    value = cookie_of(make_app(clock, MemoryStore()).test_client().get("/login/alice"))
    client = app.test_client(use_cookies=False)
    response = client.get("/whoami", headers={"Cookie": f"session={value}"})
    assert response.status_code == 503


# -- sub-second precision, logout in cookie mode, bindings (R15, R42) ---------------------------


def test_a_cookie_created_in_the_same_second_as_revoke_user_is_refused(clock: Clock) -> None:
    clock.now = 1735689600.2
    app = make_app(clock, MemoryStore())
    laptop, phone = app.test_client(), app.test_client()
    phone.get("/login/alice")
    laptop.get("/login/alice")
    clock.advance(0.5)  # still the same whole second
    laptop.get("/revoke-others")
    assert phone.get("/whoami").text == "anonymous"
    assert laptop.get("/whoami").text == "alice"  # the kept one is re-issued after it


def test_a_cookie_from_the_previous_version_with_a_whole_second_creation_time_opens(
    clock: Clock,
) -> None:
    app = make_app(clock, MemoryStore())
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    old = serializer.dumps({"user": "alice", "_created": int(clock.now), "_user": "alice"})
    client = app.test_client(use_cookies=False)
    assert client.get("/whoami", headers={"Cookie": f"session={old}"}).text == "alice"


def test_a_cookie_replayed_after_logout_opens_as_anonymous(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())
    client, other_device = app.test_client(), app.test_client()
    client.get("/login/alice")
    other_device.get("/login/alice")
    copy = client.get_cookie("session")
    assert copy is not None
    clock.advance(1)
    assert cookie_of(client.get("/logout")) == ""
    replay = app.test_client(use_cookies=False)
    assert replay.get("/whoami", headers={"Cookie": f"session={copy.value}"}).text == "anonymous"
    assert other_device.get("/whoami").text == "alice"  # only that cookie ended
    client.get("/login/alice")  # and logging in again works
    assert client.get("/whoami").text == "alice"


def test_without_a_revocation_store_logout_only_deletes_the_cookie_as_flask(clock: Clock) -> None:
    app = make_app(clock, None)
    client = app.test_client()
    client.get("/login/alice")
    copy = client.get_cookie("session")
    assert copy is not None
    assert cookie_of(client.get("/logout")) == ""
    replay = app.test_client(use_cookies=False)
    assert replay.get("/whoami", headers={"Cookie": f"session={copy.value}"}).text == "alice"


def test_ended_cookies_are_pruned_once_expired(clock: Clock) -> None:
    store = MemoryStore()
    app = make_app(clock, store)
    for _ in range(3):
        client = app.test_client()
        client.get("/login/alice")
        client.get("/logout")
    revocation = app.session_interface.revocation(app)  # type: ignore[attr-defined]
    ((_, record),) = store.scan(int(clock.now))
    assert len(record.data) == 3
    clock.advance(revocation.lifetime + 1)
    client = app.test_client()
    client.get("/login/alice")
    client.get("/logout")
    ((_, record),) = store.scan(int(clock.now))
    assert len(record.data) == 1


def test_a_user_id_written_by_hand_binds_the_cookie_so_revoke_user_ends_it(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())

    @app.route("/by-hand/<user>")
    def by_hand(user: str) -> str:
        session["_user_id"] = user
        session["user"] = user
        return "ok"

    by_hand_client, laptop = app.test_client(), app.test_client()
    by_hand_client.get("/by-hand/alice")
    laptop.get("/login/alice")
    clock.advance(1)
    laptop.get("/revoke-others")
    assert by_hand_client.get("/whoami").text == "anonymous"
    assert laptop.get("/whoami").text == "alice"


def test_a_rewritten_cookie_keeps_its_user_and_is_still_revocable(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())

    @app.route("/note/<text>")
    def note(text: str) -> str:
        session["note"] = text
        return "ok"

    phone, laptop = app.test_client(), app.test_client()
    laptop.get("/login/alice")
    phone.get("/login/alice")
    clock.advance(5)
    rewritten = cookie_of(phone.get("/note/hello"))  # a later request rewrites the cookie
    assert rewritten
    s = app.session_interface.get_signing_serializer(app)
    assert s.loads(rewritten)["_user"] == "alice"
    clock.advance(5)
    laptop.get("/revoke-others")
    replay = app.test_client(use_cookies=False)
    assert replay.get("/whoami", headers={"Cookie": f"session={rewritten}"}).text == "anonymous"
    assert laptop.get("/whoami").text == "alice"


def test_the_user_is_hidden_from_the_app(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())

    @app.route("/keys")
    def keys() -> str:
        return repr(sorted(session))

    client = app.test_client()
    client.get("/login/alice")
    assert client.get("/keys").text == "['user']"


def test_revoking_again_moves_the_not_before_time(clock: Clock) -> None:
    app = make_app(clock, MemoryStore())
    laptop, phone = app.test_client(), app.test_client()
    laptop.get("/login/alice")
    clock.advance(10)
    laptop.get("/revoke-others")  # first revocation: the user's time is created
    clock.advance(10)
    phone.get("/login/alice")  # logged in after it
    assert phone.get("/whoami").text == "alice"
    clock.advance(10)
    laptop.get("/revoke-all")  # second one: the stored time is updated
    assert phone.get("/whoami").text == "anonymous"
    assert laptop.get("/whoami").text == "anonymous"


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_not_before_times_are_kept_as_long_as_a_cookie_lives(tmp_path: t.Any, backend: str) -> None:
    from satchel.revocation import NotBefore, _key
    from satchel.stores.sqlite import SQLiteStore

    store: Store = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "r.db")
    times = NotBefore(store, lifetime=1000)
    now = 1_800_000_000
    assert times.get("alice", now) is None
    times.set("alice", now - 5, now)
    assert times.get("alice", now) == now - 5
    assert times.get("bob", now) is None
    stored = store.load(_key("alice"), now)
    assert stored is not None and (stored.created, stored.expires) == (now, now + 1000)
    times.set("alice", now + 100, now + 100)  # again, later: updated in place
    assert times.get("alice", now + 100) == now + 100
    stored = store.load(_key("alice"), now + 100)
    assert stored is not None and (stored.created, stored.expires) == (now, now + 1100)
    assert times.get("alice", now + 1099) == now + 100
    assert times.get("alice", now + 1100) is None  # every cookie it refused has expired
    store.close()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_logout_prunes_the_ended_cookies_that_have_expired_and_keeps_the_rest(
    tmp_path: t.Any, backend: str
) -> None:
    from satchel.revocation import NotBefore, _key
    from satchel.stores.sqlite import SQLiteStore

    store: Store = MemoryStore() if backend == "memory" else SQLiteStore(tmp_path / "r.db")
    times = NotBefore(store, lifetime=1000)
    now = 1_800_000_000
    times.end("alice", "old", now)
    times.end("alice", "recent", now + 600)  # keeps the record alive past "old"'s end
    times.end("bob", "other", now + 600)
    times.end("alice", "edge", now + 1000)  # a copy of "old" may still be valid this second
    stored = store.load(_key("alice"), now + 1000)
    assert stored is not None and "ended:old" in stored.data
    assert times.refuses("alice", now, "old", now + 1000)
    times.end("alice", "new", now + 1001)  # "old" has expired by now: pruned
    stored = store.load(_key("alice"), now + 1001)
    assert stored is not None
    assert sorted(stored.data) == ["ended:edge", "ended:new", "ended:recent"]
    assert times.refuses("alice", now + 500, "recent", now + 1001)
    assert times.refuses("alice", now + 900, "new", now + 1001)
    assert not times.refuses("alice", now + 900, "other", now + 1001)  # bob's, not alice's
    store.close()
