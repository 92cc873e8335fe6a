"""R42: every way a session becomes a user's gives it a new id and binds it, on every
store: Flask-Login's "remember me" restore (the real Flask-Login), and a user id
written by hand."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask, session

from satchel import Satchel, SatchelSessionInterface
from satchel.ids import hash_id
from satchel.stores import Store

from ..conftest import Clock, cookie_of

flask_login = pytest.importorskip("flask_login")

SECRET = "fixation-secret-0123456789abcdef0123"


def make_app(store: Store, clock: Clock, *, hooked: bool = True, **config: t.Any) -> Flask:
    app = Flask("fixation_app")
    app.config.update({"SECRET_KEY": SECRET, "SESSION_STORE": store, **config})
    if hooked:
        Satchel(app, clock=clock)  # connects Flask-Login's signals
    else:
        app.session_interface = SatchelSessionInterface(clock=clock)  # save-time binding alone
    manager = flask_login.LoginManager(app)

    class User(flask_login.UserMixin):
        def __init__(self, uid: str) -> None:
            self.id = uid

    manager.user_loader(User)

    @app.route("/login/<uid>")
    def login(uid: str) -> str:
        flask_login.login_user(User(uid), remember=True)
        return "ok"

    @app.route("/by-hand/<uid>")
    def by_hand(uid: str) -> str:
        session[app.config.get("SESSION_USER_KEY", "_user_id")] = uid
        return "ok"

    @app.route("/browse")
    def browse() -> str:
        session["cart"] = ["x"]
        return "ok"

    @app.route("/me")
    def me() -> str:
        user = flask_login.current_user
        return str(user.get_id()) if user.is_authenticated else "anonymous"

    return app


def sid(value: str) -> str:
    return value.split(".")[0]


def planted(app: Flask) -> str:
    """An attacker's own valid, anonymous session id."""
    value = cookie_of(app.test_client().get("/browse"))
    assert value is not None
    return value


def get(app: Flask, path: str, cookies: str) -> t.Any:
    return app.test_client(use_cookies=False).get(path, headers={"Cookie": cookies})


def assert_bound_and_revocable(app: Flask, user: str, fixed: str, issued: str | None) -> None:
    assert issued is not None and sid(issued) != sid(fixed)  # a NEW id
    assert get(app, "/me", f"session={fixed}").text == "anonymous"  # the planted id is not in
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    handles = [info.handle for info in manager.sessions_of(user)]
    assert handles == [hash_id(sid(issued))]  # listed
    assert manager.revoke_user(user) == 1
    assert get(app, "/me", f"session={issued}").text == "anonymous"  # and revocable


@pytest.mark.parametrize("hooked", [True, False], ids=["Satchel(app)", "interface only"])
def test_remember_me_restore_into_a_planted_session(
    store: Store, clock: Clock, hooked: bool
) -> None:
    app = make_app(store, clock, hooked=hooked)
    victim = app.test_client()
    victim.get("/login/victim")
    remember = victim.get_cookie("remember_token")
    assert remember is not None
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    manager.revoke_user("victim")  # start from the remember cookie alone
    fixed = planted(app)
    response = get(app, "/me", f"session={fixed}; remember_token={remember.value}")
    assert response.text == "victim"  # restored from the remember cookie
    assert_bound_and_revocable(app, "victim", fixed, cookie_of(response))


def test_a_user_id_written_by_hand_binds_under_a_new_id(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    fixed = planted(app)
    response = get(app, "/by-hand/alice", f"session={fixed}")
    assert_bound_and_revocable(app, "alice", fixed, cookie_of(response))


def test_switching_user_by_hand_rebinds(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    client = app.test_client()
    client.get("/login/alice")
    alice = client.get_cookie("session")
    assert alice is not None
    response = client.get("/by-hand/bob")
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    assert manager.sessions_of("alice") == []
    assert len(manager.sessions_of("bob")) == 1
    assert cookie_of(response) is not None and sid(cookie_of(response)) != sid(alice.value)


def test_the_user_key_is_a_setting(store: Store, clock: Clock) -> None:
    app = make_app(store, clock, SESSION_USER_KEY="uid")
    fixed = planted(app)
    issued = cookie_of(get(app, "/by-hand/carol", f"session={fixed}"))
    assert issued is not None and sid(issued) != sid(fixed)
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    assert [i.handle for i in manager.sessions_of("carol")] == [hash_id(sid(issued))]


def test_an_already_bound_session_keeps_its_id(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    client = app.test_client()
    issued = cookie_of(client.get("/login/alice"))
    # Same user: the id stays (the cookie may be re-sent as it is, Flask's refresh rule).
    assert cookie_of(client.get("/by-hand/alice")) in (None, issued)
    assert cookie_of(client.get("/browse")) in (None, issued)
    assert client.get("/me").text == "alice"
