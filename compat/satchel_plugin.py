"""A pytest plugin that swaps satchel into a test suite without editing a test.

Loaded with ``-p satchel_plugin --satchel-mode=MODE --satchel-results=FILE``
(``compat/run.py`` does it). For every mode but ``flask`` it sets
``Flask.session_interface`` to satchel's and adds the mode's settings to
``Flask.default_config``, which every app the tests build copies into its
``app.config`` (where satchel reads them). The mode ``extension`` instead runs
``Satchel(app)`` at the end of ``Flask.__init__`` (unless the app's class brings
its own interface) with a memory store, so Flask-Login's signals are
hooked. Each test's outcome is written to FILE as JSON, for the comparison.
"""

from __future__ import annotations

import functools
import json
import secrets
import tempfile
import typing as t
from pathlib import Path

import pytest

MODES = ("flask", "signed", "encrypted", "memory", "sqlite", "redis", "extension")
REDIS_URL = "redis://127.0.0.1:6379/0"

# Test suites keep keys such as "test key", which satchel would refuse.
_BASE: dict[str, t.Any] = {"SESSION_ALLOW_WEAK_KEYS": True}
_outcomes: dict[str, str] = {}
_cleanups: list[t.Callable[[], None]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("satchel", "satchel compatibility run")
    group.addoption("--satchel-mode", choices=MODES, default="flask")
    group.addoption("--satchel-results", default=None, help="write each test's outcome here")


def pytest_configure(config: pytest.Config) -> None:
    _restore_pytest_notset()
    mode = config.getoption("satchel_mode")
    if mode != "flask":
        _install(mode)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _cleanups:
        _cleanups.pop()()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A test fails if any phase fails; otherwise it passed if its call ran."""
    if report.failed:
        _outcomes[report.nodeid] = "failed"
    elif report.skipped and report.when != "teardown":
        _outcomes.setdefault(report.nodeid, "skipped")
    elif report.when == "call":
        _outcomes.setdefault(report.nodeid, "passed")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("satchel_results")
    if path:
        Path(path).write_text(json.dumps(_outcomes, indent=0, sort_keys=True))


def _install(mode: str) -> None:
    from flask import Flask
    from werkzeug.datastructures import ImmutableDict

    from satchel import Satchel, SatchelSessionInterface

    settings = {**_BASE, **_settings(mode)}
    Flask.default_config = ImmutableDict({**Flask.default_config, **settings})
    if mode != "extension":
        Flask.session_interface = SatchelSessionInterface()
        return
    original = Flask.__init__

    @functools.wraps(original)
    def init(self: Flask, *args: t.Any, **kwargs: t.Any) -> None:
        original(self, *args, **kwargs)
        # An app class with an interface of its own (a test of that hook) keeps it,
        # as it would in real life: an app does not ask for both.
        if type(self).session_interface is Flask.session_interface:
            Satchel(self)

    Flask.__init__ = init  # type: ignore[method-assign]


def _settings(mode: str) -> dict[str, t.Any]:
    if mode == "encrypted":
        return {"SESSION_COOKIE_ENCRYPTED": True}
    if mode in ("memory", "extension"):
        return {"SESSION_STORE": "memory://"}
    if mode == "sqlite":
        directory = tempfile.TemporaryDirectory(prefix="satchel-compat-")
        _cleanups.append(directory.cleanup)
        return {"SESSION_STORE": f"sqlite:///{directory.name}/sessions.db"}
    if mode == "redis":
        return {"SESSION_STORE": _redis_store()}
    return {}


def _redis_store() -> t.Any:
    """One store under a key prefix of this run's own, deleted at the end."""
    from satchel.stores.redis import RedisStore

    prefix = f"satchel-compat:{secrets.token_hex(4)}:"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    store.client.ping()  # unreachable: fail the run now, not 500 tests one by one

    def drop() -> None:
        for key in store.client.scan_iter(match=prefix + "*", count=1000):
            store.client.delete(key)
        store.client.close()

    _cleanups.append(drop)
    return store


def _restore_pytest_notset() -> None:
    """Flask's tests/test_cli.py imports ``_pytest.monkeypatch.notset``, a private
    name pytest 9.1 dropped for ``_pytest.compat.NOTSET`` (the same sentinel)."""
    from _pytest import compat, monkeypatch

    if not hasattr(monkeypatch, "notset") and hasattr(compat, "NOTSET"):
        monkeypatch.notset = compat.NOTSET  # type: ignore[attr-defined]
