"""satchel's signed cookie is Flask's: same bytes, same headers, read both ways."""

from __future__ import annotations

import dataclasses
import decimal
import typing as t
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from satchel import SatchelSessionInterface

from .conftest import Clock, cookie_of, make_flask_app, make_satchel_app

EVERY_TAGGED_TYPE: dict[str, t.Any] = {
    "tuple": (1, "two", [3]),
    "bytes": b"\x00\xffbinary",
    "markup": Markup("<b>bold</b>"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "datetime": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "tag-like dict": {" t": "not a tuple"},
    "nested": {"list": [{" b": "x"}, (1, 2)], "deep": {"a": {"b": [b"y"]}}},
    "_flashes": [("message", "hello"), ("error", "bad")],
    "_permanent": True,
    "unicode": "王天祥 ünïcödé",
    "numbers": [0, -1, 2**53, 1.5, True, None],
}


def test_worked_example_from_flask_compat(clock: Clock) -> None:
    # "dev" is weak, refused unless opted out: the opt-out lets the example's bytes show.
    app = make_satchel_app({"SECRET_KEY": "dev", "SESSION_ALLOW_WEAK_KEYS": True}, clock=clock)
    s = app.session_interface.get_signing_serializer(app)
    assert s.dumps({"username": "stzz"}) == (
        "eyJ1c2VybmFtZSI6InN0enoifQ.Z3SFgA.1PKoy6_wbItECi_Eb4fYF6x0AyM"
    )


def serializers(config: dict[str, t.Any] | None = None, clock: Clock | None = None) -> t.Any:
    flask_app = make_flask_app(config)
    satchel_app = make_satchel_app(config, clock=clock)
    return (
        flask_app,
        flask_app.session_interface.get_signing_serializer(flask_app),
        satchel_app,
        satchel_app.session_interface.get_signing_serializer(satchel_app),
    )


@pytest.mark.parametrize("key", sorted(EVERY_TAGGED_TYPE))
def test_every_tagged_type_same_bytes_and_read_both_ways(frozen_flask: Clock, key: str) -> None:
    data = {key: EVERY_TAGGED_TYPE[key], "user": "stzz"}
    flask_app, flask_s, _, satchel_s = serializers(clock=frozen_flask)
    with flask_app.app_context():
        flask_cookie = flask_s.dumps(data)
        assert flask_s.loads(satchel_s.dumps(data)) == data
    assert satchel_s.dumps(data) == flask_cookie
    assert satchel_s.loads(flask_cookie) == data


def test_compressed_payload_both_ways(frozen_flask: Clock) -> None:
    data = {"big": "abc" * 500, "list": list(range(50))}
    flask_app, flask_s, satchel_app, satchel_s = serializers(clock=frozen_flask)
    with flask_app.app_context():
        flask_cookie = flask_s.dumps(data)
    assert flask_cookie.startswith(".")  # compressed, as Flask does for this payload
    assert satchel_s.dumps(data) == flask_cookie
    # through the apps: a Flask cookie opens in satchel, and the reverse
    with satchel_app.test_client() as client:
        client.set_cookie("session", flask_cookie)
        assert client.get("/get/big").text == repr("abc" * 500)


def test_apps_switch_both_ways_without_logging_out(frozen_flask: Clock) -> None:
    flask_app = make_flask_app()
    satchel_app = make_satchel_app(clock=frozen_flask)
    flask_client = flask_app.test_client()
    flask_client.get("/set/user/stzz")
    value = flask_client.get_cookie("session")
    assert value is not None
    satchel_client = satchel_app.test_client()
    satchel_client.set_cookie("session", value.value)
    assert satchel_client.get("/get/user").text == "'stzz'"
    satchel_client.get("/set/cart/x")
    back = satchel_client.get_cookie("session")
    assert back is not None
    flask_client.set_cookie("session", back.value)
    assert flask_client.get("/dump").text == repr([("cart", "x"), ("user", "stzz")])


CONFIGS: list[dict[str, t.Any]] = [
    {},
    {
        "SESSION_COOKIE_NAME": "sid",
        "SESSION_COOKIE_PATH": "/app",
        "SESSION_COOKIE_DOMAIN": "example.test",
    },
    {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_SAMESITE": "None"},
    {"SESSION_COOKIE_SAMESITE": "Strict", "SESSION_COOKIE_HTTPONLY": False},
    {"SESSION_COOKIE_PARTITIONED": True, "SESSION_COOKIE_SAMESITE": "Lax"},
    {"APPLICATION_ROOT": "/root"},
    {"SESSION_REFRESH_EACH_REQUEST": False, "PERMANENT_SESSION_LIFETIME": 600},
    {"PERMANENT_SESSION_LIFETIME": timedelta(hours=2)},
]

STEPS = [
    "/none",
    "/get/user",
    "/set/user/stzz",
    "/get/user",
    "/permanent/1",
    "/get/user",
    "/set/n/1",
    "/vary",
    "/pop/n",
    "/pop/missing",
    "/permanent/0",
    "/clear",
    "/get/user",
    "/clear",
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "defaults")
def test_same_responses_as_flask(frozen_flask: Clock, config: dict[str, t.Any]) -> None:
    """Every step gives the same status, body, Set-Cookie and Vary headers as Flask."""
    flask_client = make_flask_app(config).test_client()
    satchel_client = make_satchel_app(config, clock=frozen_flask).test_client()
    for step in STEPS:
        frozen_flask.advance(7)
        expected = flask_client.get(step, base_url="https://example.test/")
        got = satchel_client.get(step, base_url="https://example.test/")
        assert (got.status_code, got.text) == (expected.status_code, expected.text), step
        assert got.headers.getlist("Set-Cookie") == expected.headers.getlist("Set-Cookie"), step
        assert got.headers.getlist("Vary") == expected.headers.getlist("Vary"), step


def test_fallback_key_cookie_is_read_and_reissued_under_current_key(frozen_flask: Clock) -> None:
    old = make_flask_app({"SECRET_KEY": "old-key-0123456789abcdef"}).test_client()
    old.get("/set/user/stzz")
    cookie = old.get_cookie("session")
    assert cookie is not None

    config = {
        "SECRET_KEY": "new-key-0123456789abcdef",
        "SECRET_KEY_FALLBACKS": ["old-key-0123456789abcdef"],
    }
    app = make_satchel_app(config, clock=frozen_flask)
    client = app.test_client()
    client.set_cookie("session", cookie.value)
    response = client.get("/get/user")  # read-only, yet the cookie is re-issued
    assert response.text == "'stzz'"
    reissued = cookie_of(response)
    assert reissued is not None and reissued != cookie.value
    current_only = make_flask_app({"SECRET_KEY": "new-key-0123456789abcdef"})
    s = current_only.session_interface.get_signing_serializer(current_only)
    assert s.loads(reissued) == {"user": "stzz"}
    # the next request, under the current key, sets nothing
    assert cookie_of(client.get("/get/user")) is None

    # Flask reads a fallback cookie too but would keep sending it as it is.
    flask_client = make_flask_app(config).test_client()
    flask_client.set_cookie("session", cookie.value)
    assert cookie_of(flask_client.get("/get/user")) is None


def test_fallback_order_matches_flask(frozen_flask: Clock) -> None:
    """Keys are [*fallbacks, current]: a cookie under any fallback verifies."""
    config = {
        "SECRET_KEY": "k3-current-key-abcdef",
        "SECRET_KEY_FALLBACKS": ["k1-oldest-key-abcdef", "k2-older-key-abcdef"],
    }
    flask_app, flask_s, satchel_app, satchel_s = serializers(config, frozen_flask)
    assert [bytes(k) for k in satchel_s.secret_keys] == [bytes(k) for k in flask_s.secret_keys]
    for old_key in config["SECRET_KEY_FALLBACKS"]:
        _, old_s, _, _ = serializers({"SECRET_KEY": old_key})
        with flask_app.app_context():
            value = old_s.dumps({"a": 1})
        assert satchel_s.loads(value) == {"a": 1}
    removed = serializers({"SECRET_KEY": "k0-removed-key-abcdef"})[1]
    with flask_app.app_context():
        value = removed.dumps({"a": 1})
    client = satchel_app.test_client()
    client.set_cookie("session", value)
    assert client.get("/get/a").text == "None"


def test_hook_points_are_flasks() -> None:
    iface = SatchelSessionInterface()
    assert isinstance(iface, SecureCookieSessionInterface)
    for name in (
        "session_class",
        "null_session_class",
        "pickle_based",
        "salt",
        "digest_method",
        "key_derivation",
        "serializer",
        "get_signing_serializer",
        "get_cookie_name",
        "get_cookie_domain",
        "get_cookie_path",
        "get_cookie_httponly",
        "get_cookie_secure",
        "get_cookie_samesite",
        "get_cookie_partitioned",
        "get_expiration_time",
        "should_set_cookie",
        "is_null_session",
        "make_null_session",
    ):
        assert hasattr(iface, name), name
    assert iface.pickle_based is False
    assert iface.salt == "cookie-session"


def test_subclass_hooks_are_honoured(clock: Clock) -> None:
    class Named(SatchelSessionInterface):
        def get_cookie_name(self, app: Flask) -> str:
            return "custom"

        def should_set_cookie(self, app: Flask, session: t.Any) -> bool:
            return False

    app = make_satchel_app(clock=clock)
    app.session_interface = Named(clock=clock)
    client = app.test_client()
    assert client.get("/set/a/b").headers.getlist("Set-Cookie") == []
    assert client.get("/clear").headers.getlist("Set-Cookie")[0].startswith("custom=;")


def test_session_transaction_works(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["user"] = "stzz"
        sess["cart"] = [1]
    with client.session_transaction() as sess:
        sess["cart"].append(2)  # nested, outside any request
    assert client.get("/get/cart").text == "[1, 2]"


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
tagged_leaves = st.one_of(
    json_scalars,
    st.binary(max_size=20),
    st.uuids(),
    st.datetimes(timezones=st.just(timezone.utc)).map(lambda d: d.replace(microsecond=0)),
    st.text(max_size=10).map(Markup),
)
values = st.recursive(
    tagged_leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.dictionaries(st.text(max_size=8), values, max_size=5))
def test_property_same_bytes_as_flask_and_round_trip(
    frozen_flask: Clock, data: dict[str, t.Any]
) -> None:
    flask_app, flask_s, _, satchel_s = serializers(clock=frozen_flask)
    with flask_app.app_context():
        expected = flask_s.dumps(data)
        assert flask_s.loads(satchel_s.dumps(data)) == satchel_s.loads(expected)
    assert satchel_s.dumps(data) == expected


@dataclasses.dataclass
class _Point:
    x: int
    y: str


def test_values_flask_stores_through_its_json_default_give_the_same_bytes(
    frozen_flask: Clock,
) -> None:
    berlin = timezone(timedelta(hours=2))
    data = {
        "day": date(2024, 2, 29),
        "aware": datetime(2024, 2, 29, 23, 30, 15, 999, tzinfo=berlin),
        "naive": datetime(2024, 2, 29, 23, 30, 15, 999),
        "price": decimal.Decimal("19.990"),
        "point": _Point(1, "ü"),
        "nested": [{"at": date(1999, 12, 31)}],
    }
    flask_app, flask_s, _, satchel_s = serializers(clock=frozen_flask)
    with flask_app.app_context():
        flask_cookie = flask_s.dumps(data)
        assert satchel_s.dumps(data) == flask_cookie
        assert satchel_s.loads(flask_cookie) == flask_s.loads(flask_cookie)


def test_a_date_marked_minus_zero_reads_as_utc_as_in_flask(frozen_flask: Clock) -> None:
    # RFC 2822 "-0000" (UTC, source unknown) parses naive; Flask reads it as UTC.
    payload = '{" d":"Thu, 29 Feb 2024 21:30:15 -0000"}'
    flask_app, flask_s, _, satchel_s = serializers(clock=frozen_flask)
    with flask_app.app_context():
        expected = flask_s.serializer.loads(payload)
    assert expected == datetime(2024, 2, 29, 21, 30, 15, tzinfo=timezone.utc)
    assert satchel_s.serializer.loads(payload) == expected


def test_an_aware_datetime_gives_flasks_bytes_whatever_the_servers_time_zone(
    frozen_flask: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        data = {"at": datetime(2024, 2, 29, 23, 30, 15, tzinfo=timezone(timedelta(hours=-5)))}
        flask_app, flask_s, _, satchel_s = serializers(clock=frozen_flask)
        with flask_app.app_context():
            assert satchel_s.dumps(data) == flask_s.dumps(data)
    finally:
        monkeypatch.undo()
        time.tzset()
