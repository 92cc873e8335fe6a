"""Shared fixtures: a movable clock, twin apps (Flask's interface and satchel's)."""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone
from types import SimpleNamespace

import flask.sessions
import itsdangerous.timed
import pytest
from flask import Flask, session

from satchel import Satchel, SatchelSessionInterface

#: 2025-01-01T00:00:00Z, the time of FLASK_COMPAT.md's worked example.
T0 = 1735689600.0
#: The key of the test apps: one the start-up check accepts (weak keys are refused, R43).
KEY = "test-secret-key-for-compat-0123456789"


class Clock:
    """An injected clock: ``clock()`` is the time, ``clock.advance(s)`` moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def frozen_flask(monkeypatch: pytest.MonkeyPatch, clock: Clock) -> Clock:
    """Freeze the clocks Flask's own interface reads, so both write the same bytes."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: t.Any = None) -> datetime:  # type: ignore[override]
            return datetime.fromtimestamp(clock.now, tz or timezone.utc)

    monkeypatch.setattr(flask.sessions, "datetime", FrozenDatetime)
    monkeypatch.setattr(itsdangerous.timed, "time", SimpleNamespace(time=lambda: clock.now))
    return clock


def add_routes(app: Flask) -> Flask:
    """Routes that use the session the ways apps do."""

    @app.route("/get/<key>")
    def get(key: str) -> str:
        return repr(session.get(key))

    @app.route("/set/<key>/<value>")
    def set_(key: str, value: str) -> str:
        session[key] = value
        return "ok"

    @app.route("/pop/<key>")
    def pop(key: str) -> str:
        return repr(session.pop(key, None))

    @app.route("/clear")
    def clear() -> str:
        session.clear()
        return "ok"

    @app.route("/permanent/<int:on>")
    def permanent(on: int) -> str:
        session.permanent = bool(on)
        return "ok"

    @app.route("/dump")
    def dump() -> str:
        return repr(sorted(session.items()))

    @app.route("/none")
    def none() -> str:
        return "untouched"

    @app.route("/vary")
    def vary() -> flask.Response:
        session["seen"] = "yes"
        response = flask.make_response("ok")
        response.vary.add("Accept-Encoding")
        return response

    @app.route("/append/<key>/<value>")
    def append(key: str, value: str) -> str:
        session[key].append(value)
        return "ok"

    return app


def make_flask_app(config: dict[str, t.Any] | None = None) -> Flask:
    """An app on Flask's own SecureCookieSessionInterface."""
    app = Flask("flask_app")
    app.config.update({"SECRET_KEY": KEY, **(config or {})})
    return add_routes(app)


def make_satchel_app(
    config: dict[str, t.Any] | None = None, clock: t.Callable[[], float] | None = None
) -> Flask:
    """The same app on satchel."""
    app = Flask("satchel_app")
    app.config.update({"SECRET_KEY": KEY, **(config or {})})
    Satchel(app, clock=clock)
    return add_routes(app)


@pytest.fixture
def satchel_app(clock: Clock) -> Flask:
    return make_satchel_app(clock=clock)


def cookie_of(response: t.Any, name: str = "session") -> str | None:
    """The value a response sets for cookie ``name`` (None if it sets none)."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return str(header.split(";", 1)[0].split("=", 1)[1])
    return None


def interface(app: Flask) -> SatchelSessionInterface:
    assert isinstance(app.session_interface, SatchelSessionInterface)
    return app.session_interface


def open_raw(app: Flask, value: str) -> dict[str, t.Any]:
    """The session a raw ``Cookie: session=<value>`` header opens, as a WSGI
    server would pass it (any characters, newlines included)."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder("/").get_environ()
    environ["HTTP_COOKIE"] = "session=" + value
    with app.request_context(environ) as ctx:
        opened = app.session_interface.open_session(app, ctx.request)
    assert opened is not None
    return dict(opened)
