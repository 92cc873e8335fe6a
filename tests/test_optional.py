"""A missing optional package fails with one kind of message: what and how to install.

Each test hides a package as an uninstalled one looks to Python
(``sys.modules[name] = None``) and re-imports satchel's module that needs it.
"""

from __future__ import annotations

import importlib
import re
import sys
import typing as t

import pytest
from flask import Flask

import satchel
from satchel import ConfigError, MissingDependency
from satchel.stores import store_from_url


def _message(extra: str) -> str:
    return rf'^satchel: .+ needs .+, which is not installed: pip install "satchel\[{extra}\]"$'


def _hide(monkeypatch: pytest.MonkeyPatch, package: str, *satchel_modules: str) -> None:
    """Make ``package`` uninstalled and forget satchel's modules that imported it."""
    for name in list(sys.modules):
        if name == package or name.startswith(package + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)
    for name in list(sys.modules):
        if any(name == m or name.startswith(m + ".") for m in satchel_modules):
            monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize(
    ("package", "module", "extra"),
    [
        ("cryptography", "satchel.crypto", "crypto"),
        ("redis", "satchel.stores.redis", "redis"),
        ("sqlalchemy", "satchel.stores.sql", "sql"),
        ("flask", "satchel.flask", "flask"),
    ],
)
def test_importing_without_the_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, package: str, module: str, extra: str
) -> None:
    _hide(monkeypatch, package, module)
    with pytest.raises(MissingDependency, match=_message(extra)) as info:
        importlib.import_module(module)
    assert info.value.name == package
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize(
    ("attribute", "package", "extra"),
    [("Satchel", "flask", "flask"), ("Sealer", "cryptography", "crypto")],
)
def test_satchels_lazy_names_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, attribute: str, package: str, extra: str
) -> None:
    _hide(monkeypatch, package, "satchel.flask", "satchel.crypto")
    with pytest.raises(MissingDependency, match=_message(extra)):
        getattr(satchel, attribute)


@pytest.mark.parametrize(
    ("url", "package", "extra"),
    [
        ("redis://127.0.0.1:6379/0", "redis", "redis"),
        ("redis+cluster://127.0.0.1:7000", "redis", "redis"),
        ("postgresql+psycopg://u@127.0.0.1/db", "sqlalchemy", "sql"),
        ("postgresql+psycopg://u@127.0.0.1/db", "psycopg", "postgresql"),
        ("mysql+pymysql://u@127.0.0.1/db", "pymysql", "mysql"),
    ],
)
def test_a_store_url_without_its_package_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, url: str, package: str, extra: str
) -> None:
    _hide(monkeypatch, package, "satchel.stores.redis", "satchel.stores.sql")
    with pytest.raises(MissingDependency, match=_message(extra)):
        store_from_url(url)


def test_a_driver_without_an_extra_names_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "MySQLdb")
    with pytest.raises(
        MissingDependency, match=re.escape('pip install "satchel[sql]" mysqlclient')
    ):
        store_from_url("mysql+mysqldb://u@127.0.0.1/db")


@pytest.mark.parametrize("setting", ["SESSION_COOKIE_ENCRYPTED", "SESSION_STORE_ENCRYPTED"])
def test_encryption_settings_without_cryptography_fail_at_start_up(
    monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    app = Flask(__name__)
    config: dict[str, t.Any] = {"SECRET_KEY": "x" * 40, setting: True}
    if setting == "SESSION_STORE_ENCRYPTED":
        config["SESSION_STORE"] = "memory://"
    app.config.update(config)
    _hide(monkeypatch, "cryptography", "satchel.crypto")
    with pytest.raises(ConfigError, match=_message("crypto")) as info:
        satchel.Satchel(app)
    assert setting in str(info.value)


def test_other_import_errors_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    # A package satchel does not know is a bug or a broken installation, not an extra.
    from satchel._optional import optional_import

    with pytest.raises(ModuleNotFoundError) as info, optional_import("anything"):
        import satchel_no_such_module  # type: ignore[import-not-found]  # noqa: F401
    assert not isinstance(info.value, MissingDependency)


@pytest.mark.parametrize(
    "url", ["mongodb://db/x", "postgres://u@h/db", "postgresql+nodriver://h/d"]
)
def test_an_unknown_store_scheme_lists_the_supported_ones(url: str) -> None:

    with pytest.raises(ConfigError) as caught:
        store_from_url(url)
    message = str(caught.value)
    assert "unknown URL scheme" in message and "Can't load plugin" not in message
    for scheme in ("memory://", "sqlite:///", "redis://", "redis+cluster://", "postgresql+"):
        assert scheme in message
    assert ("postgresql://" in message) == url.startswith("postgres:")
