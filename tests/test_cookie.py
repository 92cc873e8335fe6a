"""The signed cookie beyond Flask: bad input, size, absolute lifetime, settings."""

from __future__ import annotations

import base64
import typing as t
import warnings
from datetime import timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satchel import (
    ConfigError,
    CookieTooLarge,
    Satchel,
    SatchelSessionInterface,
    SerializationError,
)
from satchel.cookie import values_from_header

from .conftest import KEY, Clock, add_routes, cookie_of, make_satchel_app, open_raw


def logged_in(app: Flask) -> tuple[t.Any, str]:
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    assert value is not None
    return client, value


def read_user(app: Flask, cookie_header: str) -> t.Any:
    return app.test_client(use_cookies=False).get("/get/user", headers={"Cookie": cookie_header})


# -- bad input never gives a 500 ------------------------------------------------


def tampered(value: str) -> list[str]:
    payload, ts, sig = value.split(".")
    flipped_sig = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    return [
        f"{payload}.{ts}.{flipped_sig}",  # bad signature
        f"{payload[:-2]}.{ts}.{sig}",  # truncated payload
        value[: len(value) // 2],  # truncated cookie
        value + "x" * 5000,  # oversized
        "!!!not*base64%%%.@@@.###",  # not base64
        "",  # empty
        ".",  # separators only
        "..",
        "a.b.c.d.e",
        "\u00e9\u00e8.\u00ff.\u00fe",  # non-ASCII
        base64.urlsafe_b64encode(b"{}").decode(),  # unsigned
    ]


def test_tampered_cookies_give_an_empty_session(satchel_app: Flask) -> None:
    _, value = logged_in(satchel_app)
    assert read_user(satchel_app, f"session={value}").text == "'stzz'"
    for bad in tampered(value):
        response = read_user(satchel_app, f"session={bad}")
        assert response.status_code == 200, bad
        assert response.text == "None", bad


def test_future_dated_cookie_is_rejected(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    clock.advance(3600)  # the cookie is signed an hour ahead of the reader
    _, value = logged_in(app)
    clock.advance(-3600)
    assert read_user(app, f"session={value}").text == "None"


def test_expired_cookie_is_rejected_whatever_the_browser_was_told(clock: Clock) -> None:
    app = make_satchel_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock)
    _, value = logged_in(app)
    clock.advance(599)
    assert read_user(app, f"session={value}").text == "'stzz'"
    clock.advance(2)
    assert read_user(app, f"session={value}").text == "None"


def test_duplicate_cookie_names_garbage_first_does_not_log_out(satchel_app: Flask) -> None:
    _, value = logged_in(satchel_app)
    header = f"session=garbage.value.here; other=1; session={value}"
    assert read_user(satchel_app, header).text == "'stzz'"
    assert values_from_header(header, "session") == ["garbage.value.here", value]


@pytest.mark.parametrize("encrypted", [False, True])
def test_fifty_junk_cookies_sent_first_do_not_hide_the_real_one(
    clock: Clock, encrypted: bool
) -> None:
    app = make_satchel_app({"SESSION_COOKIE_ENCRYPTED": encrypted}, clock=clock)
    _, value = logged_in(app)
    junk = [f"session=junk{n}.{'A' * 20}.{'B' * 27}" for n in range(50)]
    response = read_user(app, "; ".join([*junk, f"session={value}"]))
    assert response.text == "'stzz'"
    assert response.headers.getlist("Set-Cookie") == []


def test_duplicates_are_bounded_above_what_a_browser_keeps_and_read_once() -> None:
    from satchel.cookie import MAX_DUPLICATES

    assert MAX_DUPLICATES >= 180  # Chrome keeps 180 cookies per site, all names together
    header = "; ".join(f"session=v{n}" for n in range(MAX_DUPLICATES + 50))
    assert values_from_header(header, "session") == [f"v{n}" for n in range(MAX_DUPLICATES)]
    assert values_from_header("session=a; session=b; session=a", "session") == ["a", "b"]


def test_values_from_header_reads_like_werkzeug() -> None:
    from werkzeug.sansio.http import parse_cookie

    for header in [
        "session=abc.def.ghi",
        "a=1; session=x.y.z; b=2",
        " session = x.y.z ;sessionx=1; xsession=2",
        "session=; session=a.b.c",
        "flag; session=a.b.c",
    ]:
        assert values_from_header(header, "session") == parse_cookie(header).getlist("session"), (
            header
        )
    assert values_from_header(None, "session") == []
    assert values_from_header("other=1", "session") == []


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(max_size=300)
    | st.binary(max_size=300).map(lambda b: base64.urlsafe_b64encode(b).decode())
)
def test_property_no_cookie_ever_raises(satchel_app: Flask, value: str) -> None:
    assert open_raw(satchel_app, value) == {}


def same_bytes(a: str, b: str) -> bool:
    """Whether two tokens' base64url segments decode to the same bytes."""

    def decode(token: str) -> list[bytes]:
        return [base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)) for p in token.split(".")]

    try:
        return decode(a) == decode(b)
    except ValueError:
        return False


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_property_no_single_bit_flip_opens(satchel_app: Flask, position: int, bit: int) -> None:
    _, value = logged_in(satchel_app)
    assert open_raw(satchel_app, value) == {"user": "stzz"}  # the path opens real cookies
    raw = bytearray(value.encode())
    raw[position % len(raw)] ^= 1 << bit
    mutated = raw.decode("latin-1")
    opened = open_raw(satchel_app, mutated)
    # base64 ignores the low bits of a segment's last character: such a flip
    # is the same token, not a forgery.
    assert opened == {} or same_bytes(mutated, value)


# -- oversized cookies ------------------------------------------------------------


def test_oversized_cookie_fails_with_a_clear_error(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    app.testing = True  # let the error reach the test instead of a 500 page

    @app.route("/big")
    def big() -> str:
        from flask import session

        session["small"] = "x"
        session["avatar"] = "".join(chr(0x4E00 + i % 2000) for i in range(3000))  # incompressible
        return "ok"

    with pytest.raises(CookieTooLarge) as info:
        app.test_client().get("/big")
    error = info.value
    assert error.size > 4096 and error.limit == 4096
    assert error.largest[0][0] == "avatar"
    assert "avatar" in str(error) and str(error.size) in str(error)


def test_oversized_cookie_can_warn_as_flask_does(clock: Clock) -> None:
    app = make_satchel_app({"SESSION_COOKIE_OVERSIZE": "warn"}, clock=clock)

    @app.route("/big")
    def big() -> str:
        from flask import session

        session["avatar"] = "".join(chr(0x4E00 + i % 2000) for i in range(3000))
        return "ok"

    with pytest.warns(UserWarning, match="cookie is too large"):
        response = app.test_client().get("/big")
    assert cookie_of(response) is not None


def test_just_under_the_limit_is_sent(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    s = app.session_interface.get_signing_serializer(app)
    import secrets

    blob = secrets.token_urlsafe(2000)  # random: zlib cannot shrink it
    while len("session") + len(s.dumps({"b": blob})) > 4096:
        blob = blob[:-10]

    @app.route("/fits")
    def fits() -> str:
        from flask import session

        session["b"] = blob
        return "ok"

    assert cookie_of(app.test_client().get("/fits")) is not None


# -- unserializable values --------------------------------------------------------


def test_unserializable_value_names_key_and_type(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    app.testing = True

    @app.route("/bad")
    def bad() -> str:
        from flask import session

        session["cart"] = [1, {"items": {3, 4}}]
        return "ok"

    client = app.test_client()
    _ = client.get("/set/user/stzz")
    with pytest.raises(
        SerializationError, match=r"session\['cart'\]\[1\]\['items'\] is a builtins.set"
    ):
        client.get("/bad")
    # the stored session is untouched
    assert client.get("/get/user").text == "'stzz'"


# -- absolute lifetime --------------------------------------------------------------


def test_absolute_lifetime_drops_an_active_session(clock: Clock) -> None:
    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": timedelta(hours=1), "PERMANENT_SESSION_LIFETIME": 600},
        clock=clock,
    )
    client = app.test_client()
    client.get("/set/user/stzz")
    for _ in range(6):  # active every 9 minutes: the idle timeout never hits
        clock.advance(540)
        assert client.get("/get/user").text == "'stzz'"
        client.get("/set/n/1")
    clock.advance(540)  # 63 minutes after creation
    response = client.get("/get/user")
    assert response.text == "None"
    assert cookie_of(response) == ""  # the dead cookie is deleted


def test_absolute_lifetime_caps_expires(clock: Clock) -> None:
    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": 3600, "PERMANENT_SESSION_LIFETIME": timedelta(days=31)},
        clock=clock,
    )
    client = app.test_client()
    client.get("/set/user/stzz")
    clock.advance(1800)
    client.get("/permanent/1")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires.timestamp() == pytest.approx(clock.now + 1800, abs=1)


def test_expires_never_beyond_400_days(clock: Clock) -> None:
    app = make_satchel_app({"PERMANENT_SESSION_LIFETIME": timedelta(days=1000)}, clock=clock)
    client = app.test_client()
    client.get("/permanent/1")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires.timestamp() == pytest.approx(clock.now + 400 * 86400, abs=1)


def test_absolute_lifetime_off_writes_flasks_bytes(clock: Clock) -> None:
    on = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)
    off = make_satchel_app(clock=clock)
    with_created = cookie_of(on.test_client().get("/set/user/stzz"))
    plain = cookie_of(off.test_client().get("/set/user/stzz"))
    assert with_created != plain
    s = off.session_interface.get_signing_serializer(off)
    assert s.loads(plain) == {"user": "stzz"}
    assert s.loads(with_created) == {"user": "stzz", "_created": int(clock.now)}


def test_cookie_from_before_absolute_lifetime_counts_from_its_signing(clock: Clock) -> None:
    before = make_satchel_app(clock=clock)
    _, value = logged_in(before)
    clock.advance(3000)
    after = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)
    assert read_user(after, f"session={value}").text == "'stzz'"
    clock.advance(700)
    assert read_user(after, f"session={value}").text == "None"


# -- settings -----------------------------------------------------------------------

BAD_CONFIGS = [
    ({"SESSION_COOKIE_SAMESITE": "None"}, "needs SESSION_COOKIE_SECURE=True"),
    ({"SESSION_COOKIE_SAMESITE": "sometimes"}, "not a SameSite value"),
    ({"SESSION_COOKIE_NAME": "__Host-s", "SESSION_COOKIE_SECURE": False}, "__Host-"),
    (
        {
            "SESSION_COOKIE_NAME": "__Host-s",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_DOMAIN": "a.test",
        },
        "forbids a Domain",
    ),
    (
        {
            "SESSION_COOKIE_NAME": "__Host-s",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_PATH": "/app",
        },
        "Path=/",
    ),
    ({"SESSION_COOKIE_NAME": "__Secure-s"}, "__Secure-"),
    ({"SECRET_KEY_FALLBACKS": "old-key"}, "must be a list"),
    ({"SECRET_KEY_FALLBACKS": [b"ok", 3]}, "str or bytes"),
    ({"SESSION_ABSOLUTE_LIFETIME": "12h"}, "SESSION_ABSOLUTE_LIFETIME"),
    ({"SESSION_COOKIE_OVERSIZE": "ignore"}, "SESSION_COOKIE_OVERSIZE"),
]


@pytest.mark.parametrize("config,message", BAD_CONFIGS, ids=[m for _, m in BAD_CONFIGS])
def test_misconfiguration_fails_at_init_app(config: dict[str, t.Any], message: str) -> None:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": KEY, **config})
    with pytest.raises(ConfigError, match=message):
        Satchel().init_app(app)


def test_misconfiguration_without_init_app_fails_on_first_request() -> None:
    app = add_routes(Flask(__name__))
    app.config.update(SECRET_KEY=KEY, SESSION_COOKIE_SAMESITE="None")
    app.session_interface = SatchelSessionInterface()
    app.testing = True
    with pytest.raises(ConfigError):
        app.test_client().get("/none")


@pytest.mark.parametrize(
    "config",
    [
        {"SESSION_COOKIE_SAMESITE": "none", "SESSION_COOKIE_SECURE": True},
        {"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_PARTITIONED": True},
        {
            "SESSION_COOKIE_NAME": "__Host-session",
            "SESSION_COOKIE_SECURE": True,
            "SESSION_COOKIE_PATH": "/",
        },
        {"SESSION_COOKIE_NAME": "__Secure-session", "SESSION_COOKIE_SECURE": True},
    ],
)
def test_valid_configs_are_accepted(config: dict[str, t.Any]) -> None:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": KEY, **config})
    Satchel(app)


def test_article_session_cookie_name_is_honoured_with_a_warning(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    app.session_cookie_name = "I am not Session"  # type: ignore[attr-defined]
    client = app.test_client(use_cookies=False)  # Werkzeug's jar cannot hold a name with spaces
    with pytest.warns(DeprecationWarning, match="SESSION_COOKIE_NAME"):
        response = client.get("/set/user/stzz")
    header = response.headers["Set-Cookie"]
    assert header.startswith("I am not Session=")
    value = header.split(";", 1)[0].split("=", 1)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        read = client.get("/get/user", headers={"Cookie": f"I am not Session={value}"})
    assert read.text == "'stzz'"


@pytest.mark.parametrize("name", ["", "a;b", "a=b", "a\nb", " padded"])
def test_unusable_cookie_names_are_refused(name: str) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=KEY, SESSION_COOKIE_NAME=name)
    with pytest.raises(ConfigError, match="cookie name"):
        Satchel(app)


def test_invalid_and_expired_cookies_are_signalled_with_a_hash(clock: Clock) -> None:
    from satchel import signals

    app = make_satchel_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock)
    _, value = logged_in(app)
    events: list[dict[str, t.Any]] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        assert sender is app
        events.append(kwargs)

    with signals.session_invalid.connected_to(receiver, app):
        read_user(app, "session=forged.cookie.value")
        assert len(events) == 1 and events[0]["reason"] == "signature"
        assert len(events[0]["token_hash"]) == 64 and "forged" not in str(events)
        read_user(app, f"session={value}")
        assert len(events) == 1  # a valid cookie is not reported
        clock.advance(601)
        read_user(app, f"session={value}")
        assert events[-1]["reason"] == "expired" and value not in str(events)


# -- the promises a mutation run found unpinned ------------------------------------


def test_absolute_lifetime_ends_at_exactly_created_plus_lifetime(clock: Clock) -> None:
    # Same boundary as server mode and as a record's `expires`: dead at the instant.
    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": 3600, "PERMANENT_SESSION_LIFETIME": 7200}, clock=clock
    )
    _, value = logged_in(app)
    clock.advance(3599)
    assert read_user(app, f"session={value}").text == "'stzz'"
    clock.advance(1)
    response = read_user(app, f"session={value}")
    assert response.text == "None"
    assert cookie_of(response) == ""  # the dead cookie is deleted


def _signed(app: Flask, data: dict[str, t.Any]) -> str:
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer is not None
    value = serializer.dumps(data)
    return value.decode() if isinstance(value, bytes) else t.cast(str, value)


def test_a_creation_time_in_the_future_is_refused(clock: Clock) -> None:
    app = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)
    now = int(clock.now)
    assert read_user(app, "session=" + _signed(app, {"user": "a", "_created": now})).text == "'a'"
    future = _signed(app, {"user": "a", "_created": now + 60})
    assert read_user(app, f"session={future}").text == "None"


@pytest.mark.parametrize("created", ["soon", True, None, [1]])
def test_a_creation_time_that_is_no_number_counts_from_the_signing(
    clock: Clock, created: t.Any
) -> None:
    app = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)
    value = _signed(app, {"user": "a", "_created": created})
    assert read_user(app, f"session={value}").text == "'a'"
    clock.advance(3600)
    assert read_user(app, f"session={value}").text == "None"


def test_the_creation_time_is_hidden_from_the_app(clock: Clock) -> None:
    app = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)
    _, value = logged_in(app)
    assert open_raw(app, value) == {"user": "stzz"}


@pytest.mark.parametrize("payload", [[1, 2], "text", 7, None])
def test_a_signed_payload_that_is_no_dict_gives_an_empty_session(
    clock: Clock, payload: t.Any
) -> None:
    app = make_satchel_app(clock=clock)
    response = read_user(app, "session=" + _signed(app, payload))
    assert response.status_code == 200 and response.text == "None"


def test_regenerate_restarts_the_absolute_lifetime(clock: Clock) -> None:
    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": 3600, "PERMANENT_SESSION_LIFETIME": 7200}, clock=clock
    )

    @app.route("/regenerate")
    def regenerate() -> str:
        from flask import session

        session.regenerate()
        return "ok"

    client = app.test_client()
    client.get("/set/user/stzz")
    clock.advance(3000)
    client.get("/regenerate")
    clock.advance(3000)  # 6000 s after creation, 3000 after the regeneration
    assert client.get("/get/user").text == "'stzz'"
    clock.advance(600)
    assert client.get("/get/user").text == "None"


def test_a_session_keeps_its_creation_time_across_writes(clock: Clock) -> None:
    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": 3600, "PERMANENT_SESSION_LIFETIME": 7200}, clock=clock
    )
    client = app.test_client()
    client.get("/set/user/stzz")
    clock.advance(1800)
    value = cookie_of(client.get("/set/n/1"))
    assert value
    s = app.session_interface.get_signing_serializer(app)
    assert s.loads(value)["_created"] == int(clock.now) - 1800


def test_oversized_error_names_the_three_largest_keys_largest_first() -> None:
    from satchel.cookie import check_size

    session = {"a": "x" * 1000, "b": "x" * 3000, "c": "x" * 10, "d": "x" * 2000}
    with pytest.raises(CookieTooLarge) as raised:
        check_size("session", "v" * 4090, session)
    assert [key for key, _ in raised.value.largest] == ["b", "d", "a"]
    check_size("session", "v" * (4096 - len("session")), session)  # exactly at the limit


def test_login_without_revocation_keeps_the_user_out_of_the_cookie(clock: Clock) -> None:
    import satchel

    app = make_satchel_app({"SESSION_ABSOLUTE_LIFETIME": 3600}, clock=clock)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        from flask import session

        session["user"] = user
        satchel.login(user)
        return "ok"

    @app.route("/keys")
    def keys() -> str:
        from flask import session

        return repr(sorted(session))

    client = app.test_client()
    value = cookie_of(client.get("/login/alice"))
    assert value
    s = app.session_interface.get_signing_serializer(app)
    assert "_user" not in s.loads(value)
    assert client.get("/keys").text == "['user']"


def test_seal_adds_the_user_only_when_asked() -> None:
    from satchel import Session
    from satchel.cookie import seal
    from satchel.signing import CookieSerializer

    serializer = CookieSerializer(["k" * 32])
    session = Session({"a": 1})
    session.user = "alice"
    plain = serializer.loads(seal(serializer, session, absolute=3600, now=1000.0))
    assert plain == {"a": 1, "_created": 1000}
    tracked = serializer.loads(
        seal(serializer, session, absolute=None, now=1000.0, track_user=True)
    )
    assert isinstance(tracked.pop("_nonce"), str)  # names this cookie, for logout
    assert tracked == {"a": 1, "_created": 1000, "_user": "alice"}


def test_a_cookie_past_its_absolute_lifetime_is_signalled_as_expired(clock: Clock) -> None:
    from satchel import signals

    app = make_satchel_app(
        {"SESSION_ABSOLUTE_LIFETIME": 600, "PERMANENT_SESSION_LIFETIME": 7200}, clock=clock
    )
    _, value = logged_in(app)
    reasons: list[str] = []
    with signals.session_invalid.connected_to(lambda _s, **kw: reasons.append(kw["reason"]), app):
        clock.advance(600)
        assert read_user(app, f"session={value}").text == "None"
    assert reasons == ["expired"]


def test_a_payload_that_is_no_dict_does_not_hide_the_next_cookie(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    _, value = logged_in(app)
    header = f"session={_signed(app, [1, 2])}; session={value}"
    assert read_user(app, header).text == "'stzz'"


def test_an_anonymous_cookie_opens_with_revocation_on(clock: Clock) -> None:
    from satchel.stores import MemoryStore

    app = make_satchel_app({"SESSION_REVOCATION_STORE": MemoryStore()}, clock=clock)
    client, value = logged_in(app)  # never bound to a user: no `_user` inside
    assert "_user" not in app.session_interface.get_signing_serializer(app).loads(value)
    assert client.get("/get/user").text == "'stzz'"


OLD_KEY = "old-signing-key-0123456789abcdef"


def _under_old_key(clock: Clock) -> str:
    old = make_satchel_app({"SECRET_KEY": OLD_KEY}, clock=clock).test_client()
    value = cookie_of(old.get("/set/user/stzz"))
    assert value
    return value


def test_a_cookie_under_a_fallback_key_expires_like_any_other(clock: Clock) -> None:
    value = _under_old_key(clock)
    config = {"SECRET_KEY_FALLBACKS": [OLD_KEY], "PERMANENT_SESSION_LIFETIME": 600}
    app = make_satchel_app(config, clock=clock)
    clock.advance(599)
    assert read_user(app, f"session={value}").text == "'stzz'"
    clock.advance(2)
    assert read_user(app, f"session={value}").text == "None"


def test_a_cookie_under_a_fallback_key_opens_with_an_absolute_lifetime(clock: Clock) -> None:
    value = _under_old_key(clock)
    config = {"SECRET_KEY_FALLBACKS": [OLD_KEY], "SESSION_ABSOLUTE_LIFETIME": 600}
    app = make_satchel_app(config, clock=clock)
    assert read_user(app, f"session={value}").text == "'stzz'"


def test_a_signed_cookie_that_inflates_beyond_the_limit_opens_empty(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    bomb = app.session_interface.get_signing_serializer(app).dumps({"user": "x" * 2_000_000})
    assert bomb.startswith(".") and len(bomb) < 4096  # compressed, and it fits a cookie
    assert read_user(app, f"session={bomb}").text == "None"


class _Unstorable:
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"ok": 1, "bad": _Unstorable()},
            rf"session\['cart'\]\['bad'\] is a {__name__}\._Unstorable",
        ),
        ({"ok": 1, 7: "x"}, r"a key of session\['cart'\] \(7\) is a builtins\.int"),
    ],
)
def test_an_unstorable_value_or_key_is_named_exactly(
    clock: Clock, value: t.Any, message: str
) -> None:
    app = make_satchel_app(clock=clock)
    app.testing = True

    @app.route("/bad")
    def bad() -> str:
        from flask import session

        session["cart"] = value
        return "ok"

    with pytest.raises(SerializationError, match=message):
        app.test_client().get("/bad")
