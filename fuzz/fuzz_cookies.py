"""Coverage-guided fuzzing (atheris) of cookie and id parsing, in every mode.

    .venv/bin/python fuzz/fuzz_cookies.py -max_total_time=60 [corpus_dir]

Each input becomes the session cookie of a request to three apps: signed
cookie, encrypted cookie, server-side store. Nothing may raise out of the
session interface, and a session that opens must hold exactly what this
harness issued (a forged token cannot carry data of its own). An empty corpus
directory is seeded with a valid cookie of each mode, so mutations start from
real tokens. The test suite runs it for a bounded time (``tests/test_fuzz.py``);
the hypothesis properties in the suite check that single-bit flips never open.
"""

from __future__ import annotations

import logging
import sys
import typing as t
from pathlib import Path

import atheris
from flask import Flask
from werkzeug.test import EnvironBuilder

from satchel import Satchel
from satchel.stores import MemoryStore

logging.getLogger("satchel").setLevel(logging.CRITICAL)  # bad cookies are logged; expected here

SECRET = "fuzz-secret-0123456789abcdef0123456789"


def make_app(**config: t.Any) -> Flask:
    app = Flask("fuzz")
    app.config.update({"SECRET_KEY": SECRET, **config})
    Satchel(app)
    return app


APPS = {
    "signed": make_app(),
    "encrypted": make_app(SESSION_COOKIE_ENCRYPTED=True),
    "server": make_app(SESSION_STORE=MemoryStore()),
}


def seed(app: Flask) -> str:
    """A valid cookie of ``app``, from a real request."""
    from flask import session

    with app.test_request_context("/"):
        session.update(ISSUED)
        response = app.make_response("ok")
        app.session_interface.save_session(app, session._get_current_object(), response)  # type: ignore[attr-defined]
    header = response.headers["Set-Cookie"]
    return header.split(";", 1)[0].split("=", 1)[1]


ISSUED = {"user": "stzz"}
ENVIRON = EnvironBuilder("/").get_environ()
SEEDS = {name: seed(app) for name, app in APPS.items()}


def open_with(app: Flask, token: str) -> dict[str, t.Any]:
    environ = dict(ENVIRON, HTTP_COOKIE="session=" + token)
    with app.request_context(environ) as ctx:
        session = app.session_interface.open_session(app, ctx.request)
        return {} if session is None else dict(session)


def test_one_input(data: bytes) -> None:
    token = data.decode("latin-1")  # as WSGI servers decode headers
    for name, app in APPS.items():
        opened = open_with(app, token)
        assert opened in ({}, ISSUED), (name, token, opened)


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus and Path(corpus[0]).is_dir() and not any(Path(corpus[0]).iterdir()):
        for name, token in SEEDS.items():
            (Path(corpus[0]) / f"seed-{name}").write_text(token)
    atheris.instrument_all()  # coverage feedback from satchel and its libraries
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
