"""R47 against every store: anonymous sessions held in the cookie until bound
(SESSION_ANONYMOUS_IN_COOKIE), and the cap on one user's sessions."""

from __future__ import annotations

import secrets
import typing as t

import pytest
from flask import Flask, session

import satchel
from satchel import Satchel, signals
from satchel.ids import looks_like_id
from satchel.stores import Store

from ..conftest import Clock, add_routes, cookie_of
from .test_server_sessions import Counting

SECRET = "anonymous-secret-0123456789abcdef0123"


def make_app(store: Store, clock: Clock, **config: t.Any) -> Flask:
    app = Flask("anonymous_app")
    app.config.update({"SECRET_KEY": SECRET, "SESSION_STORE": store, **config})
    Satchel(app, clock=clock)
    add_routes(app)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        satchel.login(user)
        session["user"] = user
        return "ok"

    @app.route("/logout")
    def logout() -> str:
        satchel.logout()
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user", "anonymous"))

    @app.route("/big")
    def big() -> str:
        session["blob"] = secrets.token_hex(3000)  # incompressible
        return "ok"

    return app


@pytest.fixture
def counting(store: Store) -> Counting:
    return Counting(store)


@pytest.fixture
def app(counting: Counting, clock: Clock) -> Flask:
    return make_app(counting, clock, SESSION_ANONYMOUS_IN_COOKIE=True)


def test_anonymous_sessions_live_in_the_cookie(app: Flask, counting: Counting) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/set/csrf/token-1"))
    assert value is not None and not looks_like_id(value)
    assert client.get("/set/cart/book").status_code == 200
    assert client.get("/dump").text == "[('cart', 'book'), ('csrf', 'token-1')]"
    assert counting.writes() == 0 and counting.calls["load"] == 0


def test_login_moves_the_data_to_the_store_under_a_new_server_id(
    app: Flask, counting: Counting, clock: Clock
) -> None:
    client = app.test_client()
    client.get("/set/csrf/token-1")
    response = client.get("/login/alice")
    value = cookie_of(response)
    assert value is not None and looks_like_id(value)
    assert counting.calls["create"] == 1
    stored = counting.inner.sessions_of("alice", int(clock.now))
    assert len(stored) == 1 and stored[0][1].user == "alice"
    assert set(stored[0][1].data) >= {"csrf", "user"}
    assert client.get("/dump").text == "[('csrf', 'token-1'), ('user', 'alice')]"
    client.get("/logout")
    assert client.get("/whoami").text == "anonymous"
    assert counting.inner.sessions_of("alice", int(clock.now)) == []


def test_a_session_that_outgrows_the_cookie_moves_to_the_store(
    app: Flask, counting: Counting
) -> None:
    client = app.test_client()
    client.get("/set/a/1")
    value = cookie_of(client.get("/big"))
    assert value is not None and looks_like_id(value)
    assert counting.calls["create"] == 1
    assert client.get("/get/a").text == "'1'"


def test_clearing_an_anonymous_cookie_session_deletes_the_cookie(app: Flask) -> None:
    client = app.test_client()
    client.get("/set/a/1")
    response = client.get("/clear")
    assert any("session=;" in h for h in response.headers.getlist("Set-Cookie"))
    assert client.get("/dump").text == "[]"


def test_a_tampered_data_cookie_is_an_empty_anonymous_session(app: Flask) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/set/a/1"))
    assert value is not None
    invalid: list[str] = []

    def seen(sender: t.Any, **kw: t.Any) -> None:
        invalid.append(kw["reason"])

    client.set_cookie("session", value[:-3] + "AAA")
    with signals.session_invalid.connected_to(seen):
        response = client.get("/dump")
    assert response.status_code == 200 and response.text == "[]"
    assert invalid == ["signature"]


def test_sealed_anonymous_cookies(counting: Counting, clock: Clock) -> None:
    pytest.importorskip("cryptography")
    app = make_app(counting, clock, SESSION_ANONYMOUS_IN_COOKIE=True, SESSION_COOKIE_ENCRYPTED=True)
    client = app.test_client()
    value = cookie_of(client.get("/set/secret/plans"))
    assert value is not None and "plans" not in value and "cGxhbnM" not in value
    assert client.get("/get/secret").text == "'plans'"
    client.get("/login/bob")
    assert client.get("/dump").text == "[('secret', 'plans'), ('user', 'bob')]"
    assert counting.writes() == 1


def test_off_by_default_anonymous_sessions_are_stored(counting: Counting, clock: Clock) -> None:
    client = make_app(counting, clock).test_client()
    value = cookie_of(client.get("/set/a/1"))
    assert value is not None and looks_like_id(value)
    assert counting.calls["create"] == 1


# -- the cap on one user's sessions --------------------------------------------


def test_a_login_past_the_cap_ends_the_users_oldest_sessions(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock, SESSION_MAX_PER_USER=3)
    devices = []
    for _ in range(5):
        client = app.test_client()
        client.get("/login/alice")
        devices.append(client)
        clock.advance(10)
    other = app.test_client()
    other.get("/login/bob")
    assert [c.get("/whoami").text for c in devices] == ["anonymous"] * 2 + ["alice"] * 3
    assert other.get("/whoami").text == "bob"
    assert len(counting.inner.sessions_of("alice", int(clock.now))) == 3


def test_the_cap_has_a_generous_default_and_can_be_turned_off(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock)
    assert app.config["SESSION_MAX_PER_USER"] == 100
    unlimited = make_app(counting, clock, SESSION_MAX_PER_USER=None)
    for _ in range(3):
        unlimited.test_client().get("/login/carol")
    assert len(counting.inner.sessions_of("carol", int(clock.now))) == 3


@pytest.mark.parametrize("bad", [0, -1, "3", True, 2.5])
def test_a_bad_cap_is_refused_at_start_up(bad: t.Any, clock: Clock) -> None:
    with pytest.raises(satchel.ConfigError, match="SESSION_MAX_PER_USER"):
        make_app(Counting(satchel.stores.MemoryStore()), clock, SESSION_MAX_PER_USER=bad)


def test_a_flask_wtf_csrf_token_survives_the_move_to_the_store(
    counting: Counting, clock: Clock
) -> None:
    flask_wtf = pytest.importorskip("flask_wtf")
    from flask_wtf.csrf import generate_csrf

    app = Flask("csrf_app")
    app.config.update(SECRET_KEY=SECRET, SESSION_STORE=counting, SESSION_ANONYMOUS_IN_COOKIE=True)
    Satchel(app, clock=clock)
    flask_wtf.CSRFProtect(app)

    @app.get("/form")
    def form() -> str:
        return generate_csrf()

    @app.post("/login/<user>")
    def login(user: str) -> str:
        satchel.login(user)
        session["user"] = user
        return "ok"

    @app.post("/act")
    def act() -> str:
        return "done by " + session["user"]

    client = app.test_client()
    token = client.get("/form").text
    assert counting.writes() == 0
    assert client.post("/login/alice", data={"csrf_token": token}).status_code == 200
    assert looks_like_id(cookie_of_client(client))
    # The token of the anonymous cookie is still the session's after the move.
    assert client.post("/act", data={"csrf_token": token}).text == "done by alice"


def cookie_of_client(client: t.Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return str(cookie.value)
