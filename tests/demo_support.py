"""Helpers for the demo app's tests (tests/test_demo.py, tests/test_demo_browser.py)."""

from __future__ import annotations

import os
import re
import shutil
import typing as t
from pathlib import Path

import pytest

#: The demo's session cookie value: ``id.signature``, both base64url.
SID_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")

#: CI (SATCHEL_REQUIRE_SERVICES=1) fails where a developer's run skips.
REQUIRE = os.environ.get("SATCHEL_REQUIRE_SERVICES") == "1"

_TEMPLATE: dict[str, Path] = {}


def seeded_instance(factory: pytest.TempPathFactory, dest: Path) -> Path:
    """A fresh copy, at ``dest``, of an instance folder with the demo's seeded users.

    The seed is made once per run: hashing its passwords takes a third of a
    second, so each test copies it instead.
    """
    if "path" not in _TEMPLATE:
        from satchel.demo import create_app

        path = factory.mktemp("demo-template")
        create_app({"SESSION_STORE": "memory://"}, instance_path=path)
        _TEMPLATE["path"] = path
    return Path(shutil.copytree(_TEMPLATE["path"], dest))


def _sqlite_store_missing() -> str | None:
    try:
        import satchel.stores.sqlite  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


#: Why the demo's default session store (SQLite) cannot be used, or None.
SQLITE_MISSING = _sqlite_store_missing()
#: The stores the demo's tests run on: "default" (its SQLite store) once it exists.
STORES = ["memory"] if SQLITE_MISSING else ["memory", "default"]


def sqlite_store_or_skip() -> None:
    """Skip unless satchel's SQLite session store (the demo's default) exists."""
    if SQLITE_MISSING:
        pytest.skip(f"the demo's default session store is not available: {SQLITE_MISSING}")


def store_config(store: str) -> dict[str, t.Any]:
    """Config for ``store``: "memory", or "default" (the demo's own SQLite store)."""
    if store == "default":
        sqlite_store_or_skip()
        return {}
    return {"SESSION_STORE": "memory://"}
