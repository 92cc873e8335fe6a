"""Shared pieces of the benchmarks: the tiny app, the WSGI driver, the statistics.

Every benchmark drives the same tiny Flask app under several session set-ups,
interleaved round by round in one process so that machine noise hits them all
alike, and reports medians and ratios to the app without a session.
"""

from __future__ import annotations

import gc
import platform
import statistics
import time
import typing as t

from flask import Flask, session
from flask.sessions import NullSession, SessionInterface
from werkzeug.test import EnvironBuilder

SECRET = "bench-secret-key-0123456789abcdef0123456789"


class NoSession(SessionInterface):
    """The floor: Flask's request cycle with a session interface that does nothing."""

    def open_session(self, app: t.Any, request: t.Any) -> t.Any:
        return NullSession()

    def save_session(self, app: t.Any, session: t.Any, response: t.Any) -> None:
        return None


def make_app(setup: t.Callable[[Flask], None] | None, *, uses_session: bool = True) -> Flask:
    """The benchmark app: ``/read`` reads one key, ``/write`` changes one key."""
    app = Flask("bench")
    app.config["SECRET_KEY"] = SECRET
    if setup is None:
        app.session_interface = NoSession()
    else:
        setup(app)

    if uses_session:

        @app.route("/slow/<key>")
        def slow(key: str) -> str:
            # Loaded at the start of the request, saved at its end: the window
            # in which the race drills run another request.
            _ = session.get("user")
            time.sleep(float(app.config.get("BENCH_SLOW", 0.4)))
            session[key] = "set"
            return "ok"

        @app.route("/logout")
        def logout() -> str:
            session.clear()  # Flask's idiom; satchel ends the stored session too
            return "ok"

        @app.route("/dump")
        def dump() -> str:
            return ",".join(sorted(session.keys()))

        @app.route("/count")
        def count() -> str:
            return str(session.get("count", 0))

        @app.route("/incr")
        def incr() -> str:
            session["count"] = session.get("count", 0) + 1
            return str(session["count"])

        @app.route("/read")
        def read() -> str:
            return str(session.get("user", ""))

        @app.route("/write")
        def write() -> str:
            session["n"] = session.get("n", 0) + 1
            return "ok"

        @app.route("/login")
        def login() -> str:
            session["user"] = "stzz"
            session["n"] = 0
            return "ok"

    else:

        @app.route("/read")
        def read() -> str:
            return "stzz"

        @app.route("/write")
        def write() -> str:
            return "ok"

        @app.route("/login")
        def login() -> str:
            return "ok"

    return app


def _start_response(status: str, headers: t.Any, exc_info: t.Any = None) -> t.Any:
    return None


class Driver:
    """Calls one app's WSGI callable with a prepared environ, as a server would."""

    def __init__(self, app: Flask, path: str, cookie_header: str | None) -> None:
        headers = {"Cookie": cookie_header} if cookie_header else {}
        self.environ = EnvironBuilder(path=path, headers=headers).get_environ()
        self.app = app.wsgi_app

    def run(self, n: int) -> float:
        """Seconds per request over ``n`` requests."""
        app, environ, start = self.app, self.environ, _start_response
        t0 = time.perf_counter()
        for _ in range(n):
            body = app(dict(environ), start)
            for _chunk in body:
                pass
            close = getattr(body, "close", None)
            if close:
                close()
        return (time.perf_counter() - t0) / n


def login_cookie(app: Flask) -> str | None:
    """Log in once through the app and return the Cookie header it sets."""
    client = app.test_client()
    response = client.get("/login")
    cookies = response.headers.getlist("Set-Cookie")
    if not cookies:
        return None
    return "; ".join(c.split(";", 1)[0] for c in cookies)


def interleave(drivers: dict[str, Driver], *, rounds: int, n: int) -> dict[str, list[float]]:
    """Run every driver ``rounds`` times, interleaved; per-request seconds per round."""
    results: dict[str, list[float]] = {name: [] for name in drivers}
    for d in drivers.values():  # warm up
        d.run(max(n // 10, 10))
    for _ in range(rounds):
        for name, d in drivers.items():
            gc.collect()
            results[name].append(d.run(n))
    return results


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, t.Any]:
    """What the numbers came from."""
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
