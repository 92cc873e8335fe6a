"""Empty and weak keys are refused (R43); signed cookies in encrypted mode are a
migration window the app controls."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from satchel import HARDENED, ConfigError, CookieSerializer, Satchel, SatchelSessionInterface
from satchel.checks import run_checks
from satchel.crypto import Sealer
from satchel.ids import IdSigner
from satchel.tagged import session_json

from .conftest import KEY, Clock, add_routes, cookie_of, make_satchel_app

WEAK = ["dev", "changeme", "k" * 32, "abababab" * 8, b'_5#y2L"F4Q8z\n\xec]/']


def app_with(config: dict[str, t.Any]) -> Flask:
    app = add_routes(Flask("keys_app"))
    app.config.update({"SECRET_KEY": KEY, **config})
    return app


def flask_cookie(key: str, data: dict[str, t.Any]) -> str:
    """A cookie signed the way Flask signs it, under ``key``."""
    signer = URLSafeTimedSerializer(
        key,
        salt="cookie-session",
        serializer=session_json,
        signer_kwargs={"key_derivation": "hmac", "digest_method": __import__("hashlib").sha1},
    )
    return signer.dumps(data)


@pytest.mark.parametrize("encrypted", [False, True])
def test_an_empty_fallback_is_refused_at_start_up(encrypted: bool) -> None:
    app = app_with({"SECRET_KEY_FALLBACKS": [""], "SESSION_COOKIE_ENCRYPTED": encrypted})
    with pytest.raises(ConfigError, match=r"empty key.*secrets.token_hex\(32\)"):
        Satchel(app)


def test_an_empty_fallback_is_refused_before_the_first_request_without_init_app() -> None:
    app = app_with({"SECRET_KEY_FALLBACKS": [""]})
    app.session_interface = SatchelSessionInterface()
    app.testing = True
    forged = flask_cookie("", {"user": "admin"})
    with pytest.raises(ConfigError, match="empty key"):
        app.test_client().get("/get/user", headers={"Cookie": f"session={forged}"})


def test_an_empty_fallback_is_refused_even_with_the_weak_key_opt_out() -> None:
    app = app_with({"SECRET_KEY_FALLBACKS": [""], "SESSION_ALLOW_WEAK_KEYS": True})
    with pytest.raises(ConfigError, match="empty key"):
        Satchel(app)


def test_an_empty_secret_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is empty"):
        Satchel(app_with({"SECRET_KEY": ""}))


def test_no_signer_or_sealer_takes_an_empty_key() -> None:
    # A configuration that skipped the start-up check still cannot sign or verify with it.
    with pytest.raises(ConfigError, match="empty key"):
        CookieSerializer(["", KEY])
    with pytest.raises(ConfigError, match="empty key"):
        IdSigner([b"", KEY])
    with pytest.raises(ConfigError, match="empty key"):
        Sealer(KEY, [""], purpose="cookie")


@pytest.mark.parametrize("where", ["SECRET_KEY", "SECRET_KEY_FALLBACKS"])
@pytest.mark.parametrize("weak", WEAK, ids=repr)
def test_a_weak_key_is_refused_at_start_up_saying_what_to_do(where: str, weak: t.Any) -> None:
    config = {"SECRET_KEY": weak} if where == "SECRET_KEY" else {"SECRET_KEY_FALLBACKS": [weak]}
    with pytest.raises(ConfigError, match=rf"{where}.*secrets.token_hex\(32\)"):
        Satchel(app_with(config))


def test_the_opt_out_accepts_a_weak_key(clock: Clock) -> None:
    app = make_satchel_app({"SECRET_KEY": "dev", "SESSION_ALLOW_WEAK_KEYS": True}, clock=clock)
    client = app.test_client()
    client.get("/set/user/stzz")
    assert client.get("/get/user").text == "'stzz'"


def test_a_short_random_key_is_reported_not_refused() -> None:
    app = app_with({"SECRET_KEY": "q8Zr2Lx0Vn4TbW7e"})  # 16 random characters
    Satchel(app)
    assert "secret-short" in [f.code for f in run_checks(app.config)]


def test_the_opt_out_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="SESSION_ALLOW_WEAK_KEYS"):
        Satchel(app_with({"SESSION_ALLOW_WEAK_KEYS": "yes"}))


# -- signed cookies in encrypted mode -----------------------------------------------------------


def signed_login(clock: Clock) -> str:
    value = cookie_of(make_satchel_app(clock=clock).test_client().get("/set/user/stzz"))
    assert value is not None and "." in value
    return value


def opens_as(app: Flask, value: str) -> str:
    client = app.test_client(use_cookies=False)
    return client.get("/get/user", headers={"Cookie": f"session={value}"}).text


def test_by_default_a_signed_cookie_is_accepted_and_sealed(clock: Clock) -> None:
    app = make_satchel_app({"SESSION_COOKIE_ENCRYPTED": True}, clock=clock)
    assert opens_as(app, signed_login(clock)) == "'stzz'"


def test_with_accept_signed_off_a_valid_signed_cookie_is_not_accepted(clock: Clock) -> None:
    app = make_satchel_app(
        {"SESSION_COOKIE_ENCRYPTED": True, "SESSION_COOKIE_ACCEPT_SIGNED": False}, clock=clock
    )
    assert opens_as(app, signed_login(clock)) == "None"
    client = app.test_client()  # sealed cookies still work
    client.get("/set/user/stzz")
    assert client.get("/get/user").text == "'stzz'"


def test_the_hardened_preset_refuses_signed_cookies(clock: Clock) -> None:
    assert HARDENED["SESSION_COOKIE_ACCEPT_SIGNED"] is False
    app = make_satchel_app(dict(HARDENED), clock=clock)
    assert opens_as(app, signed_login(clock)) == "None"


def test_check_reports_accepted_signed_cookies_in_encrypted_mode() -> None:
    def codes(**config: t.Any) -> list[str]:
        return [f.code for f in run_checks({"SECRET_KEY": KEY, **config})]

    assert "signed-accepted" in codes(SESSION_COOKIE_ENCRYPTED=True)
    assert "signed-accepted" not in codes(
        SESSION_COOKIE_ENCRYPTED=True, SESSION_COOKIE_ACCEPT_SIGNED=False
    )
    assert "signed-accepted" not in codes()  # signed mode: payload-readable says it
    app = make_satchel_app({"SESSION_COOKIE_ENCRYPTED": True})
    result = app.test_cli_runner().invoke(args=["session", "check"])
    assert (
        "signed-accepted" in result.output
        and "SESSION_COOKIE_ACCEPT_SIGNED = False" in result.output
    )
