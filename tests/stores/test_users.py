"""Users and devices against every store: login, logout, list, revoke, signals."""

from __future__ import annotations

import typing as t
from contextlib import contextmanager

import flask
import pytest
from flask import Flask, jsonify, session

import satchel
from satchel import Satchel, signals
from satchel.stores import Store

from ..conftest import Clock, cookie_of

SECRET = "users-secret-0123456789abcdef0123"


def make_app(store: Store, clock: Clock, **config: t.Any) -> Flask:
    app = Flask("users_app")
    app.config.update(
        {"SECRET_KEY": SECRET, "SESSION_STORE": store, "SESSION_RECORD_DEVICE": True, **config}
    )
    Satchel(app, clock=clock)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        satchel.login(user)
        return "ok"

    @app.route("/logout")
    def logout() -> str:
        satchel.logout()
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user", "anonymous"))

    @app.route("/browse")
    def browse() -> str:
        session["cart"] = ["x"]
        return "ok"

    @app.route("/devices")
    def devices() -> flask.Response:
        return jsonify([info.__dict__ for info in satchel.sessions_of(session["user"])])

    @app.route("/revoke/<handle>")
    def revoke(handle: str) -> str:
        return str(satchel.revoke(handle, session["user"]))

    @app.route("/revoke-others")
    def revoke_others() -> str:
        return str(satchel.revoke_user(session["user"], keep_current=True))

    return app


@pytest.fixture
def app(store: Store, clock: Clock) -> Flask:
    return make_app(store, clock)


def device(app: Flask, user: str, agent: str) -> t.Any:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    assert client.get(f"/login/{user}").status_code == 200
    return client


def test_three_logins_list_three_sessions(app: Flask, clock: Clock) -> None:
    phones = []
    for n in range(3):
        phones.append(device(app, "alice", f"agent-{n}"))
        clock.advance(5)
    device(app, "bob", "bob-agent")
    listed = phones[1].get("/devices").get_json()
    assert len(listed) == 3
    assert [d["current"] for d in listed] == [False, True, False]
    assert sorted(d["user_agent"] for d in listed) == ["agent-0", "agent-1", "agent-2"]
    assert all(d["ip"] == "127.0.0.1" and d["user"] == "alice" for d in listed)
    assert all("sid" not in d and len(d["handle"]) == 64 for d in listed)
    cookie = phones[1].get_cookie("session")
    assert cookie is not None and cookie.value.split(".")[0] not in str(listed)  # no id leaks


def test_revoke_user_keeps_only_the_current_device(app: Flask) -> None:
    phones = [device(app, "alice", f"agent-{n}") for n in range(3)]
    assert phones[0].get("/revoke-others").text == "2"
    assert phones[0].get("/whoami").text == "alice"
    assert phones[1].get("/whoami").text == "anonymous"
    assert phones[2].get("/whoami").text == "anonymous"
    assert len(phones[0].get("/devices").get_json()) == 1


def test_a_revoked_device_is_anonymous_on_its_next_request(app: Flask) -> None:
    laptop, phone = device(app, "alice", "laptop"), device(app, "alice", "phone")
    handle = next(
        d["handle"] for d in laptop.get("/devices").get_json() if d["user_agent"] == "phone"
    )
    assert laptop.get(f"/revoke/{handle}").text == "True"
    assert phone.get("/whoami").text == "anonymous"
    assert laptop.get("/whoami").text == "alice"


def test_nobody_revokes_another_users_session(app: Flask) -> None:
    alice, mallory = device(app, "alice", "a"), device(app, "mallory", "m")
    handle = alice.get("/devices").get_json()[0]["handle"]
    assert mallory.get(f"/revoke/{handle}").text == "False"
    assert alice.get("/whoami").text == "alice"


def test_login_regenerates_and_the_pre_login_id_is_dead(app: Flask) -> None:
    client = app.test_client()
    before = cookie_of(client.get("/browse"))
    after = cookie_of(client.get("/login/alice"))
    assert before and after and before.split(".")[0] != after.split(".")[0]
    assert client.get("/whoami").text == "alice"
    attacker = app.test_client(use_cookies=False)  # planted the pre-login id (fixation)
    assert attacker.get("/whoami", headers={"Cookie": f"session={before}"}).text == "anonymous"


def test_logout_ends_the_session_on_the_server(app: Flask) -> None:
    client = device(app, "alice", "a")
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie_of(client.get("/logout")) == ""
    replay = app.test_client(use_cookies=False)
    assert replay.get("/whoami", headers={"Cookie": f"session={cookie.value}"}).text == "anonymous"


@contextmanager
def recording(app: Flask) -> t.Iterator[list[tuple[str, dict[str, t.Any]]]]:
    events: list[tuple[str, dict[str, t.Any]]] = []
    names = ["created", "regenerated", "destroyed", "revoked", "expired", "conflict", "invalid"]
    receivers = []
    for name in names:
        signal = getattr(signals, f"session_{name}")

        def receiver(sender: t.Any, _name: str = name, **kwargs: t.Any) -> None:
            assert sender is app
            events.append((_name, kwargs))

        signal.connect(receiver, app)
        receivers.append((signal, receiver))
    try:
        yield events
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver, app)


def test_signals_fire_once_each_with_their_arguments(app: Flask, clock: Clock) -> None:
    with recording(app) as events:
        client = app.test_client()
        client.get("/browse")
        assert [e[0] for e in events] == ["created"]
        created_key = events[0][1]["key"]
        client.get("/login/alice")
        assert events[1] == ("regenerated", {"old_key": created_key, "key": events[1][1]["key"]})
        other = device(app, "alice", "other")
        assert client.get("/revoke-others").text == "1"
        revoked = [e for e in events if e[0] == "revoked"]
        assert len(revoked) == 1 and revoked[0][1]["user"] == "alice"
        assert other.get("/whoami").text == "anonymous"
        assert [e[0] for e in events].count("expired") == 1  # the revoked device's next request
        client.get("/logout")
        assert [e for e in events if e[0] == "destroyed"] == [
            ("destroyed", {"key": events[1][1]["key"]})
        ]
        bad = app.test_client(use_cookies=False)
        bad.get("/whoami", headers={"Cookie": "session=not-a-valid-token"})
        invalid = [e for e in events if e[0] == "invalid"]
        assert len(invalid) == 1 and invalid[0][1]["reason"] == "signature"
        assert len(invalid[0][1]["token_hash"]) == 64 and "not-a-valid" not in str(invalid)
    names = [e[0] for e in events]
    for name in ("created", "regenerated", "destroyed", "revoked", "invalid"):
        assert name in names


def test_flask_login_integration(store: Store, clock: Clock) -> None:
    flask_login = pytest.importorskip("flask_login")
    app = make_app(store, clock)
    manager = flask_login.LoginManager(app)

    class User(flask_login.UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    @manager.user_loader
    def load(uid: str) -> User:
        return User(uid)

    @app.route("/fl/login/<uid>")
    def fl_login(uid: str) -> str:
        flask_login.login_user(User(uid), remember=True)
        return "ok"

    @app.route("/fl/logout")
    def fl_logout() -> str:
        flask_login.logout_user()
        return "ok"

    @app.route("/fl/me")
    def fl_me() -> str:
        user = flask_login.current_user
        return str(user.get_id()) if user.is_authenticated else "anonymous"

    client = app.test_client()
    before = cookie_of(client.get("/browse"))
    response = client.get("/fl/login/u1")
    after = cookie_of(response)
    assert before and after and before.split(".")[0] != after.split(".")[0]  # regenerated
    assert client.get("/fl/me").text == "u1"
    logout = client.get("/fl/logout")
    set_cookies = logout.headers.getlist("Set-Cookie")
    assert any(c.startswith("session=;") for c in set_cookies)  # our session deleted
    assert any(c.startswith("remember_token=;") for c in set_cookies)  # remember-me cleared
    assert client.get("/fl/me").text == "anonymous"
    replay = app.test_client(use_cookies=False)
    assert replay.get("/fl/me", headers={"Cookie": f"session={after}"}).text == "anonymous"


def test_login_alone_creates_a_bound_session(store: Store) -> None:
    """``satchel.login`` on a session with no data is still a login: a record
    bound to the user is stored and its cookie set, so it is listed and revocable."""
    app = make_app(store, Clock())

    @app.route("/bare-login/<user>")
    def bare_login(user: str) -> str:
        satchel.login(user)
        return "ok"

    @app.route("/list/<user>")
    def listed(user: str) -> flask.Response:
        return jsonify([info.handle for info in satchel.sessions_of(user)])

    client = app.test_client()
    response = client.get("/bare-login/alice")
    assert response.headers.get("Set-Cookie", "").startswith("session=")
    assert len(client.get("/list/alice").json) == 1
    # ... and a bare login in a session that already held data keeps it too.
    client2 = app.test_client()
    client2.get("/browse")
    client2.get("/bare-login/bob")
    assert len(client2.get("/list/bob").json) == 1


@pytest.mark.parametrize("user", ["mallory\x00", "x" * 256])
def test_a_user_id_no_store_can_keep_is_refused_clearly(store: Store, user: str) -> None:
    """Every store keeps the same user ids: one PostgreSQL cannot hold (NUL) or
    longer than the SQL index fails with SerializationError, and nothing is written."""
    app = make_app(store, Clock())
    app.testing = True  # the error reaches the test, as it reaches a developer
    client = app.test_client()
    client.get("/browse")
    with pytest.raises(satchel.SerializationError, match="user id"):
        client.get(f"/login/{user}")
    assert list(store.scan(int(Clock().now))) != []  # the anonymous session is still there
    assert client.get("/whoami").text == "anonymous"
    ok = "x" * 255
    client.get(f"/login/{ok}")
    assert client.get("/whoami").text == ok
