"""The rig's app, for gunicorn: ``SATCHEL_SCALEOUT_URL`` names the store,
``SATCHEL_SCALEOUT_NS`` its key prefix or table (one per run, dropped after).

``/login/<user>`` binds a new session to the user (so the per-user index is
used) with a counter at 0; ``/incr`` adds one and answers the new value, or
401 if the request carries no live session (the drill counts that as a session
lost); ``/count`` reads it; ``/health`` uses no session (for HAProxy).
"""

from __future__ import annotations

import logging
import os

from flask import Flask, abort, session

import satchel
from satchel.stores import Store
from satchel.stores.redis import RedisStore
from satchel.stores.sql import SQLStore


def make_store(url: str, namespace: str) -> Store:
    """The store ``url`` names, its keys under ``namespace``."""
    if url.split("://", 1)[0].startswith("redis"):
        return RedisStore.from_url(url, prefix=f"{namespace}:")
    return SQLStore.from_url(url, table=namespace)


def make_app(url: str, namespace: str) -> Flask:
    logging.getLogger("satchel.checks").setLevel(logging.ERROR)  # Flask's defaults, on purpose
    app = Flask("scaleout")
    app.config["SECRET_KEY"] = "scaleout-secret-key-0123456789abcdef0123"
    app.config["SESSION_STORE"] = make_store(url, namespace)
    satchel.Satchel(app)

    @app.route("/health")
    def health() -> str:
        return "ok"

    @app.route("/login/<user>")
    def login(user: str) -> str:
        satchel.login(user)
        session["count"] = 0
        return "ok"

    @app.route("/incr")
    def incr() -> str:
        if "count" not in session:
            abort(401)
        session["count"] += 1
        return str(session["count"])

    @app.route("/count")
    def count() -> str:
        if "count" not in session:
            abort(401)
        return str(session["count"])

    return app


if "SATCHEL_SCALEOUT_URL" in os.environ:
    app = make_app(os.environ["SATCHEL_SCALEOUT_URL"], os.environ["SATCHEL_SCALEOUT_NS"])
