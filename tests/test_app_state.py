"""One interface shared by many apps: each app's state lives and dies with it (#10 item 11)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest
from flask import Flask, session

from satchel import ConfigError, SatchelSessionInterface

KEY = "shared-interface-secret-0123456789abcdef"


def app_on(interface: SatchelSessionInterface, **config: object) -> Flask:
    """An app on ``interface`` as Flask's default one is used: no init_app."""
    app = Flask("shared")
    app.config.update({"SECRET_KEY": KEY, "TESTING": True, **config})
    app.session_interface = interface

    @app.route("/")
    def index() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    return app


def test_every_new_app_is_checked_even_with_a_reused_id() -> None:
    interface = SatchelSessionInterface()
    for _ in range(40):
        good = app_on(interface)
        assert good.test_client().get("/").text == "1"  # checked, and passes
        del good
        gc.collect()  # the next app may get the same id()
        bad = app_on(interface, SESSION_COOKIE_SAMESITE="None")  # and no Secure
        with pytest.raises(ConfigError, match="SameSite"):
            bad.test_client().get("/")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_stores_are_closed_when_their_app_is_collected(tmp_path: Path) -> None:
    interface = SatchelSessionInterface()

    def serve_one() -> None:
        app = app_on(interface, SESSION_STORE=f"sqlite:///{tmp_path}/sessions.db")
        client = app.test_client()
        assert client.get("/").text == "1"
        assert client.get("/").text == "2"  # the store really served this app

    serve_one()  # imports and first-use caches out of the count
    gc.collect()
    before = open_fds()
    for _ in range(150):
        serve_one()
    gc.collect()
    assert open_fds() <= before + 3  # one app's worth at most, not 150 apps' (450)


def test_a_store_object_passed_in_is_left_open_for_its_owner() -> None:
    from satchel.stores import MemoryStore

    class Owned(MemoryStore):
        closed = 0

        def close(self) -> None:
            Owned.closed += 1

    store = Owned()
    interface = SatchelSessionInterface()
    for _ in range(2):  # the second app uses the store after the first one is gone
        app = app_on(interface, SESSION_STORE=store)
        assert app.test_client().get("/").text == "1"
        del app
        gc.collect()
    assert Owned.closed == 0
