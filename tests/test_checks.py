"""The security check of the settings, its start-up report, `flask session check`, HARDENED."""

from __future__ import annotations

import json
import logging
import secrets
import typing as t
import warnings
from datetime import timedelta

import pytest
from flask import Flask

import satchel
from satchel import HARDENED, Finding, Satchel, SatchelSessionInterface, run_checks
from satchel.checks import key_weakness

from .conftest import Clock, add_routes, cookie_of

STRONG = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#: Settings that pass every check.
CLEAN: dict[str, t.Any] = {**HARDENED, "SECRET_KEY": STRONG}


def codes(config: dict[str, t.Any], debug: bool = False) -> list[str]:
    return [f.code for f in run_checks(config, debug=debug)]


def test_hardened_settings_pass_every_check() -> None:
    assert run_checks(CLEAN) == []
    assert run_checks(CLEAN, debug=True) == []


# Each finding: the settings that cause it, and what its fix must name.
FINDINGS = [
    ("secret-missing", {"SECRET_KEY": None}, "SECRET_KEY"),
    ("secret-missing", {"SECRET_KEY": ""}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "dev"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "secret"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "changeme"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "Change-Me!"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "super secret key"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "you-will-never-guess"}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": b'_5#y2L"F4Q8z\n\xec]/'}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "k" * 64}, "SECRET_KEY"),
    ("secret-weak", {"SECRET_KEY": "abababab" * 8}, "SECRET_KEY"),
    # Fixed, not secrets.token_hex(8): 16 random hex digits have fewer than 8 distinct
    # ones a few times in a hundred, which is rated weak (a flaky test before).
    ("secret-short", {"SECRET_KEY": "3f9a0c7be1d54286"}, "SECRET_KEY"),
    ("fallback-weak", {"SECRET_KEY_FALLBACKS": ["dev"]}, "SECRET_KEY_FALLBACKS"),
    ("fallback-weak", {"SECRET_KEY_FALLBACKS": [""]}, "SECRET_KEY_FALLBACKS"),
    ("fallback-weak", {"SECRET_KEY_FALLBACKS": [STRONG[::-1], "short"]}, "SECRET_KEY_FALLBACKS"),
    ("fallback-is-current", {"SECRET_KEY_FALLBACKS": [STRONG]}, "SECRET_KEY_FALLBACKS"),
    ("fallback-is-current", {"SECRET_KEY_FALLBACKS": [STRONG.encode()]}, "SECRET_KEY_FALLBACKS"),
    ("cookie-not-secure", {"SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_NAME": "sid"}, "SECURE"),
    ("cookie-not-httponly", {"SESSION_COOKIE_HTTPONLY": False}, "SESSION_COOKIE_HTTPONLY = True"),
    ("samesite-unset", {"SESSION_COOKIE_SAMESITE": None}, "SESSION_COOKIE_SAMESITE = 'Lax'"),
    ("payload-readable", {"SESSION_COOKIE_ENCRYPTED": False}, "SESSION_COOKIE_ENCRYPTED = True"),
    ("no-absolute-lifetime", {"SESSION_ABSOLUTE_LIFETIME": None}, "SESSION_ABSOLUTE_LIFETIME"),
    ("cookie-name-fingerprint", {"SESSION_COOKIE_NAME": "session"}, "SESSION_COOKIE_NAME"),
    ("cookie-name-fingerprint", {"SESSION_COOKIE_NAME": "__Host-session"}, "SESSION_COOKIE_NAME"),
    ("cookie-name-fingerprint", {"SESSION_COOKIE_NAME": "PHPSESSID"}, "SESSION_COOKIE_NAME"),
    ("cookie-name-fingerprint", {"SESSION_COOKIE_NAME": "sessionid"}, "SESSION_COOKIE_NAME"),
    # Typos that would silently keep sessions in a readable cookie.
    ("setting-unknown", {"SESSION_STORE_URL": "redis://"}, "SESSION_STORE, if"),
    ("setting-unknown", {"SESSION_COOKIE_ENCRYPT": True}, "SESSION_COOKIE_ENCRYPTED, if"),
    ("setting-unknown", {"SESSION_COOKIE_SAMESTE": "Lax"}, "SESSION_COOKIE_SAMESITE, if"),
    ("setting-unknown", {"SESSION_XYZZY_QQ": 1}, "remove it"),
]


@pytest.mark.parametrize(
    "code,change,fix", FINDINGS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(FINDINGS)]
)
def test_each_finding(code: str, change: dict[str, t.Any], fix: str) -> None:
    findings = run_checks({**CLEAN, **change})
    assert [f.code for f in findings] == [code]
    (finding,) = findings
    assert fix in finding.fix
    assert finding.severity in ("high", "medium", "low")
    assert finding.message.endswith(".")


def test_every_documented_setting_is_known() -> None:
    # Flask's own SESSION_* names and satchel's are never reported as unknown.
    app = Flask(__name__)
    app.config["SECRET_KEY"] = STRONG
    Satchel(app)
    settings = {k: v for k, v in app.config.items() if k.startswith("SESSION_")}
    assert "setting-unknown" not in codes({**CLEAN, **settings})


def test_a_default_flask_app_gets_the_advice_that_matters() -> None:
    defaults = {"SECRET_KEY": STRONG}  # everything else left to Flask and satchel
    assert codes(defaults) == [
        "cookie-not-secure",
        "samesite-unset",
        "payload-readable",
        "no-absolute-lifetime",
        "cookie-name-fingerprint",
    ]
    assert codes({})[0] == "secret-missing"


def test_findings_are_sorted_most_serious_first() -> None:
    findings = run_checks({"SECRET_KEY": "dev"})
    order = [("high", "medium", "low").index(f.severity) for f in findings]
    assert order == sorted(order) and findings[0].code == "secret-weak"


def test_secure_off_is_expected_in_debug() -> None:
    config = {**CLEAN, "SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_NAME": "sid"}
    assert codes(config, debug=True) == []
    assert codes(config, debug=False) == ["cookie-not-secure"]
    assert codes({**config, "SESSION_COOKIE_PARTITIONED": True}) == []  # forces Secure


def test_a_server_store_means_a_readable_payload_is_not_reported() -> None:
    assert codes({**CLEAN, "SESSION_COOKIE_ENCRYPTED": False, "SESSION_STORE": object()}) == []


@pytest.mark.parametrize(
    "key",
    [secrets.token_hex(32), secrets.token_urlsafe(32), secrets.token_bytes(32), STRONG.encode()],
)
def test_random_keys_are_not_reported(key: str | bytes) -> None:
    assert key_weakness(key) is None
    assert codes({**CLEAN, "SECRET_KEY": key, "SECRET_KEY_FALLBACKS": [key[::-1]]}) == []


def test_a_broken_key_setting_is_reported_not_raised() -> None:
    assert codes({**CLEAN, "SECRET_KEY": 12345}) == ["secret-weak"]
    assert codes({**CLEAN, "SECRET_KEY_FALLBACKS": "not a list"}) == []  # init_app raises


def test_finding_renders_as_text_and_json() -> None:
    finding = Finding("code", "low", "Something is off.", "X = 1")
    assert finding.format() == "[low] code: Something is off.\n    set: X = 1"
    assert finding.as_dict() == {
        "code": "code",
        "severity": "low",
        "message": "Something is off.",
        "fix": "X = 1",
    }


# -- the start-up report --------------------------------------------------------------------


#: A weak key is refused at start-up (R43); these tests look at how it is reported.
WEAK_OK = {"SESSION_ALLOW_WEAK_KEYS": True}


def satchel_app(config: dict[str, t.Any], **kwargs: t.Any) -> Flask:
    app = add_routes(Flask("checked_app"))
    app.config.update(config)
    Satchel(app, **kwargs)
    return app


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "satchel.checks"]


def test_startup_reports_findings_once_per_app(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    caplog.set_level(logging.WARNING, logger="satchel")
    app = satchel_app({"SECRET_KEY": "changeme", **WEAK_OK}, clock=clock)
    client = app.test_client()
    for _ in range(3):
        client.get("/set/user/stzz")
    app.session_interface.check_config(app)  # type: ignore[attr-defined]
    (record,) = records(caplog)
    assert record.levelno == logging.WARNING
    text = record.getMessage()
    assert "'checked_app'" in text and "secret-weak" in text
    assert "set: SECRET_KEY = " in text and "flask session check" in text
    satchel_app({"SECRET_KEY": "changeme", **WEAK_OK}, clock=clock)
    assert len(records(caplog)) == 2  # another app: its own report


def test_startup_is_silent_when_every_check_passes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="satchel")
    satchel_app(CLEAN)
    assert records(caplog) == []


def test_startup_report_without_init_app_comes_with_the_first_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="satchel")
    app = add_routes(Flask("direct"))
    app.config.update(SECRET_KEY="dev", **WEAK_OK)
    app.session_interface = SatchelSessionInterface()
    assert records(caplog) == []
    app.test_client().get("/none")
    app.test_client().get("/none")
    assert len(records(caplog)) == 1


def test_startup_report_is_logged_not_warned() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warnings.warn would fail strict test suites
        satchel_app({"SECRET_KEY": "dev", **WEAK_OK})


def test_debug_app_is_not_told_to_use_secure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="satchel")
    local = {"SESSION_COOKIE_SECURE": False, "SESSION_COOKIE_NAME": "sid", "DEBUG": True}
    satchel_app({**CLEAN, **local})
    assert records(caplog) == []


# -- flask session check ---------------------------------------------------------------------


def test_cli_check_lists_findings_and_fails(clock: Clock) -> None:
    app = satchel_app({"SECRET_KEY": "dev", **WEAK_OK}, clock=clock)
    result = app.test_cli_runner().invoke(args=["session", "check"])
    assert result.exit_code == 1
    out = result.output
    assert "secret-weak" in out and "cookie-not-secure" in out
    assert "set: SESSION_COOKIE_SECURE = True" in out
    assert "Traceback" not in out


def test_cli_check_passes_a_hardened_app() -> None:
    result = satchel_app(CLEAN).test_cli_runner().invoke(args=["session", "check"])
    assert result.exit_code == 0
    assert "pass every check" in result.output


def test_cli_check_json() -> None:
    app = satchel_app({**CLEAN, "SESSION_COOKIE_SAMESITE": None})
    result = app.test_cli_runner().invoke(args=["session", "check", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["app"] == "checked_app" and report["debug"] is False
    assert [f["code"] for f in report["findings"]] == ["samesite-unset"]
    assert set(report["findings"][0]) == {"code", "severity", "message", "fix"}


@pytest.mark.parametrize(
    "args,message",
    [
        (["session", "check", "--bogus"], "No such option"),
        (["session", "check", "extra"], "unexpected extra argument"),
        (["session", "frobnicate"], "No such command"),
    ],
)
def test_cli_wrong_arguments_give_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = satchel_app(CLEAN).test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_session_group_shows_its_commands() -> None:
    result = satchel_app(CLEAN).test_cli_runner().invoke(args=["session", "--help"])
    assert result.exit_code == 0 and "check" in result.output


def test_cli_group_is_registered_once_per_app() -> None:
    app = satchel_app(CLEAN)
    Satchel(app)  # twice on one app
    assert "session" in app.cli.commands
    result = app.test_cli_runner().invoke(args=["session", "check"])
    assert result.exit_code == 0


# -- the hardened preset ---------------------------------------------------------------------


def test_hardened_preset_in_one_line(clock: Clock) -> None:
    app = add_routes(Flask("hardened"))
    app.config["SECRET_KEY"] = STRONG
    app.config.from_mapping(satchel.HARDENED)
    Satchel(app, clock=clock)
    client = app.test_client()
    response = client.get("/set/user/stzz", base_url="https://example.test")
    (header,) = response.headers.getlist("Set-Cookie")
    attributes = {a.strip().split("=")[0] for a in header.split(";")[1:]}
    assert header.startswith("__Host-sid=")
    assert {"Secure", "HttpOnly", "Path"} <= attributes and "Domain" not in attributes
    assert "SameSite=Lax" in header and "Path=/;" in header + ";"
    value = cookie_of(response, "__Host-sid")
    assert value and "." not in value  # encrypted


def test_hardened_lifetimes_idle_30_minutes_absolute_12_hours(clock: Clock) -> None:
    app = add_routes(Flask("hardened"))
    app.config.update({**HARDENED, "SECRET_KEY": STRONG})
    Satchel(app, clock=clock)
    client = app.test_client()
    client.get("/set/user/stzz")
    client.get("/permanent/1")  # refreshed on every request from now on
    for _ in range(12 * 60 // 25):  # active every 25 minutes for 12 hours
        clock.advance(25 * 60)
        assert client.get("/get/user").text == "'stzz'"
    clock.advance(25 * 60)
    assert client.get("/get/user").text == "None"  # absolute lifetime

    client.get("/set/user/stzz")
    clock.advance(31 * 60)
    assert client.get("/get/user").text == "None"  # idle lifetime


def test_hardened_preset_is_read_only() -> None:
    with pytest.raises(TypeError):
        HARDENED["SESSION_COOKIE_SECURE"] = False  # type: ignore[index]
    assert HARDENED["SESSION_ABSOLUTE_LIFETIME"] == timedelta(hours=12)
    assert HARDENED["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
