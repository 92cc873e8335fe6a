"""Encryption: per-purpose keys, the sealer, the encrypted cookie (SECURITY.md R28-R38)."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import typing as t
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import BadSignature
from markupsafe import Markup

import satchel
from satchel import BadToken, ConfigError, CookieTooLarge, Satchel
from satchel.crypto import (
    COOKIE,
    HEADER_SIZE,
    NONCE_SIZE,
    OVERHEAD,
    SESSION_ID,
    STORE,
    SealedCookieSerializer,
    Sealer,
    b64decode,
    b64encode,
    derive_key,
    get_sealer,
    key_id,
)

from .conftest import Clock, cookie_of, make_flask_app, make_satchel_app
from .test_compat import EVERY_TAGGED_TYPE

SECRET = "test-secret-key-for-compat-0123456789"  # the conftest apps' key
OLD = "an-older-secret-key-that-was-rotated-out-0001"
NEWER = "the-newest-secret-key-after-rotation-0000002"
ENCRYPTED = {"SESSION_COOKIE_ENCRYPTED": True}


def encrypted_app(config: dict[str, t.Any] | None = None, clock: Clock | None = None) -> Flask:
    return make_satchel_app({**ENCRYPTED, **(config or {})}, clock=clock)


def log_in(app: Flask, name: str = "session") -> str:
    value = cookie_of(app.test_client().get("/set/user/stzz"), name)
    assert value
    return value


def user_of(app: Flask, cookie_header: str) -> t.Any:
    response = app.test_client(use_cookies=False).get(
        "/get/user", headers={"Cookie": cookie_header}
    )
    assert response.status_code == 200
    return response


# -- per-purpose keys (R35) ------------------------------------------------------------


def _hkdf_sha256(secret: bytes, salt: bytes, info: bytes) -> bytes:
    # RFC 5869 with one output block, written out to pin what derive_key is.
    prk = hmac.new(salt, secret, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_derive_key_is_hkdf_sha256_with_the_purpose_as_info() -> None:
    for purpose in (COOKIE, STORE, SESSION_ID):
        assert derive_key(SECRET, purpose) == _hkdf_sha256(
            SECRET.encode(), b"satchel/hkdf/v1", b"satchel/" + purpose.encode()
        )
    assert derive_key(SECRET, COOKIE) == derive_key(SECRET.encode(), COOKIE)


def test_derived_keys_never_change_across_versions() -> None:
    # A change here makes every cookie and stored session unreadable after an upgrade.
    secret = "correct horse battery staple"
    assert derive_key(secret, COOKIE).hex() == (
        "6b4370a666521d44a82cef352d43f12178f32a775eb5211d1f838ddf095425e9"
    )
    assert derive_key(secret, STORE).hex() == (
        "8bd5febea4139361f0d760b9f0af31c8293b41313e5bd63685e5177f4002ed1a"
    )
    assert key_id(derive_key(secret, COOKIE)).hex() == "1ccc5dbf"


def test_each_purpose_has_its_own_key() -> None:
    keys = {derive_key(SECRET, p) for p in (COOKIE, STORE, SESSION_ID, "cookie-session")}
    assert len(keys) == 4
    assert all(len(k) == 32 for k in keys)  # AES-256
    with pytest.raises(TypeError):
        derive_key("", COOKIE)


def test_a_token_for_one_purpose_does_not_open_for_another() -> None:
    token = Sealer(SECRET, purpose=STORE).seal(b"payload", b"aad")
    with pytest.raises(BadToken):
        Sealer(SECRET, purpose=COOKIE).open(token, b"aad")


# -- the sealer (store payloads at rest) -------------------------------------------------


def test_sealer_round_trip() -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    for plaintext in (b"", b"x", b'{"user":"stzz"}', bytes(range(256)) * 100):
        assert sealer.open(sealer.seal(plaintext, b"id-hash"), b"id-hash") == plaintext
        assert sealer.unseal(sealer.seal(plaintext)) == (plaintext, True)


def test_token_is_version_key_id_nonce_aes256gcm_and_nothing_else() -> None:
    plaintext = b'{"user":"stzz"}'
    key = derive_key(SECRET, STORE)
    token = Sealer(SECRET, purpose=STORE).seal(plaintext, b"id-hash")
    # R32: the token names a format version and a key id, nothing else (no algorithm).
    assert len(token) == OVERHEAD + len(plaintext)
    assert token[0] == 1
    assert token[1:HEADER_SIZE] == key_id(key)
    nonce = token[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
    # R33: plain AES-256-GCM under the derived key; version and key id are authenticated.
    opened = AESGCM(key).decrypt(nonce, token[HEADER_SIZE + NONCE_SIZE :], token[:5] + b"id-hash")
    assert opened == plaintext


def test_a_store_dump_reveals_nothing() -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    plaintext = b'{"user":"stzz","email":"stzz@example.com"}'
    first, second = sealer.seal(plaintext, b"h1"), sealer.seal(plaintext, b"h1")
    assert first != second  # equal sessions cannot be spotted in a dump
    for token in (first, second):
        assert b"stzz" not in token and b"example" not in token
        assert b"stzz" not in base64.b64encode(token)


def test_a_row_copied_onto_another_session_does_not_open() -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    row = sealer.seal(b'{"user":"admin"}', aad=hashlib.sha256(b"id of session A").digest())
    with pytest.raises(BadToken):
        sealer.open(row, aad=hashlib.sha256(b"id of session B").digest())


def test_sealer_rotation() -> None:
    old_token = Sealer(OLD, purpose=STORE).seal(b"data", b"h")
    rotated = Sealer(SECRET, [OLD], purpose=STORE)
    assert rotated.unseal(old_token, b"h") == (b"data", False)  # re-seal it
    assert rotated.unseal(rotated.seal(b"data", b"h"), b"h") == (b"data", True)
    assert rotated.seal(b"data")[1:HEADER_SIZE] == key_id(derive_key(SECRET, STORE))
    with pytest.raises(BadToken, match="not configured"):
        Sealer(SECRET, purpose=STORE).open(old_token, b"h")  # the old key was removed
    # A fallback that is the current key changes nothing; an empty one is refused (R43).
    same = Sealer(SECRET, [SECRET], purpose=STORE)
    assert same.unseal(same.seal(b"data")) == (b"data", True)
    with pytest.raises(ConfigError, match="empty key"):
        Sealer(SECRET, [SECRET, ""], purpose=STORE)


def test_fallbacks_are_tried_newest_first_and_all_open() -> None:
    tokens = [Sealer(k, purpose=STORE).seal(k.encode()) for k in (OLD, NEWER)]
    sealer = Sealer(SECRET, [OLD, NEWER], purpose=STORE)
    opened = [sealer.unseal(tok) for tok in tokens]
    assert opened == [(OLD.encode(), False), (NEWER.encode(), False)]


def test_key_id_collision_still_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two configured keys with one id (1 in 2**32): both are tried.
    monkeypatch.setattr("satchel.crypto.key_id", lambda key: b"same")
    old_token = Sealer(OLD, purpose=STORE).seal(b"old")
    sealer = Sealer(SECRET, [OLD], purpose=STORE)
    assert sealer.unseal(old_token) == (b"old", False)
    assert sealer.unseal(sealer.seal(b"new")) == (b"new", True)


def test_every_single_bit_flip_of_a_sealer_token_fails() -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    token = sealer.seal(b'{"user":"stzz"}', b"h")
    for i in range(len(token) * 8):
        mutated = bytearray(token)
        mutated[i // 8] ^= 1 << (i % 8)
        with pytest.raises(BadToken):
            sealer.open(bytes(mutated), b"h")


@pytest.mark.parametrize("cut", [0, 1, HEADER_SIZE, HEADER_SIZE + NONCE_SIZE, OVERHEAD - 1])
def test_truncated_tokens_fail(cut: int) -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    with pytest.raises(BadToken):
        sealer.open(sealer.seal(b"")[:cut])


def test_a_future_format_version_does_not_open() -> None:
    sealer = Sealer(SECRET, purpose=STORE)
    token = sealer.seal(b"data")
    for version in (0, 2, 255):
        with pytest.raises(BadToken, match="version"):
            sealer.open(bytes([version]) + token[1:])


def test_nonces_never_repeat_over_100_000_tokens() -> None:
    seal = Sealer(SECRET, purpose=COOKIE).seal
    nonces = {seal(b"")[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE] for _ in range(100_000)}
    assert len(nonces) == 100_000


def test_get_sealer_builds_once_per_key_set() -> None:
    a = get_sealer(SECRET, [OLD], STORE)
    assert get_sealer(SECRET, (OLD,), STORE) is a
    assert get_sealer(SECRET, None, STORE) is not a
    assert get_sealer(SECRET, [OLD], COOKIE) is not a


def test_lazy_exports() -> None:
    assert satchel.Sealer is Sealer
    assert satchel.SealedCookieSerializer is SealedCookieSerializer
    assert satchel.derive_key is derive_key
    with pytest.raises(AttributeError):
        _ = satchel.no_such_name  # type: ignore[attr-defined]


# -- the encrypted cookie ---------------------------------------------------------------


def test_the_encrypted_cookie_cannot_be_read(clock: Clock) -> None:
    app = encrypted_app({"SESSION_COOKIE_SAMESITE": "Lax"}, clock=clock)
    value = log_in(app)
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert b"stzz" not in b64decode(value)  # what flask-unsign or a base64 decoder sees
    flask_app = make_flask_app()
    with pytest.raises(BadSignature):  # Flask's own reader
        flask_app.session_interface.get_signing_serializer(flask_app).loads(value)
    assert user_of(app, f"session={value}").text == "'stzz'"


def test_serializer_is_sealed_and_cached(clock: Clock) -> None:
    app = encrypted_app(clock=clock)
    iface = app.session_interface
    s = iface.get_signing_serializer(app)
    assert isinstance(s, SealedCookieSerializer)
    assert iface.get_signing_serializer(app) is s
    assert s.loads(s.dumps({"user": "stzz"})) == {"user": "stzz"}
    app.config["SECRET_KEY_FALLBACKS"] = [OLD]
    assert iface.get_signing_serializer(app) is not s
    app.config["PERMANENT_SESSION_LIFETIME"] = 600
    assert iface.get_signing_serializer(app).lifetime == 600  # type: ignore[union-attr]
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(minutes=20)
    assert iface.get_signing_serializer(app).lifetime == 1200  # type: ignore[union-attr]


@pytest.mark.parametrize("key", sorted(EVERY_TAGGED_TYPE))
def test_every_tagged_type_round_trips(clock: Clock, key: str) -> None:
    app = encrypted_app(clock=clock)
    data = {key: EVERY_TAGGED_TYPE[key], "user": "stzz"}
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(data)
    stored = client.get_cookie("session")
    assert stored is not None and "." not in stored.value  # sealed, not signed
    with client.session_transaction() as sess:
        assert dict(sess) == data
        assert {k: type(v) for k, v in sess.items()} == {k: type(v) for k, v in data.items()}


_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.uuids()
    | st.text().map(Markup)
    | st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9000, 1, 1),
        timezones=st.just(timezone.utc),
    ).map(lambda d: d.replace(microsecond=0))
)
_keys = st.text(max_size=5) | st.sampled_from([" t", " b", " di"])  # tag-like keys too
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(_keys, inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200)
@given(data=st.dictionaries(st.text(max_size=10), _values, max_size=5))
def test_property_sealed_round_trip_keeps_values_and_types(data: dict[str, t.Any]) -> None:
    s = SealedCookieSerializer(SECRET, lifetime=600, clock=Clock())
    assert s.loads(s.dumps(data)) == data


REGIONS = {
    "version": (0, 1),
    "key id": (1, HEADER_SIZE),
    "nonce": (HEADER_SIZE, HEADER_SIZE + NONCE_SIZE),
    "ciphertext": (HEADER_SIZE + NONCE_SIZE, -16),
    "tag": (-16, None),
}


@pytest.fixture(scope="module")
def flip_target() -> tuple[Flask, str]:
    # One app and cookie for every example: building them per example is slow.
    app = encrypted_app(clock=Clock())
    value = log_in(app)
    assert user_of(app, f"session={value}").text == "'stzz'"
    return app, value


@settings(max_examples=300)
@given(
    region=st.sampled_from(sorted(REGIONS)),
    offset=st.integers(0, 10_000),
    bit=st.integers(0, 7),
)
def test_property_any_bit_flip_gives_an_empty_session_never_a_500(
    flip_target: tuple[Flask, str], region: str, offset: int, bit: int
) -> None:
    app, value = flip_target
    token = bytearray(b64decode(value))
    start, stop = REGIONS[region]
    positions = range(len(token))[start:stop]
    i = positions[offset % len(positions)]
    token[i] ^= 1 << bit
    response = user_of(app, f"session={b64encode(bytes(token))}")
    assert response.text == "None"
    assert cookie_of(response) is None  # nothing to delete, nothing issued


@pytest.mark.parametrize(
    "bad",
    ["", "A", "AAAA", "!!!!", "a.b", "a.b.c", "é" * 40, "A" * 9000, "+/+/+/+/+/+/+/+/" * 4],
)
def test_malformed_values_give_an_empty_session(clock: Clock, bad: str) -> None:
    app = encrypted_app(clock=clock)
    assert user_of(app, f"session={bad}").text == "None"


def test_tag_is_checked_before_any_decoding() -> None:
    # R29: nothing of a tampered plaintext reaches the JSON decoder.
    calls: list[bytes] = []

    class Spy:
        def dumps(self, obj: t.Any) -> str:
            return satchel.session_json.dumps(obj)

        def loads(self, data: bytes) -> t.Any:
            calls.append(data)
            return satchel.session_json.loads(data)

    s = SealedCookieSerializer(SECRET, clock=Clock(), serializer=Spy())
    token = bytearray(b64decode(s.dumps({"user": "stzz"})))
    token[-1] ^= 1
    with pytest.raises(BadToken):
        s.open(b64encode(bytes(token)), None)
    assert calls == []
    assert s.loads(s.dumps({"user": "stzz"})) == {"user": "stzz"} and len(calls) == 1


def test_a_sealed_cookie_moved_to_another_cookie_does_not_open(clock: Clock) -> None:
    app = encrypted_app(clock=clock)
    other = encrypted_app({"SESSION_COOKIE_NAME": "prefs"}, clock=clock)
    value = log_in(app)
    assert user_of(app, f"session={value}").text == "'stzz'"
    assert user_of(other, f"prefs={value}").text == "None"
    # and back: the other cookie's value does not open as the session
    assert user_of(other, f"prefs={log_in(other, 'prefs')}").text == "'stzz'"
    assert user_of(app, f"session={log_in(other, 'prefs')}").text == "None"


# -- times inside the token (R37) ------------------------------------------------------


def test_expired_cookie_is_rejected(clock: Clock) -> None:
    app = encrypted_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock)
    value = log_in(app)
    clock.advance(600)
    assert user_of(app, f"session={value}").text == "'stzz'"
    clock.advance(1)
    assert user_of(app, f"session={value}").text == "None"


def test_stamped_expiry_holds_even_if_the_lifetime_grows(clock: Clock) -> None:
    value = log_in(encrypted_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock))
    longer = encrypted_app({"PERMANENT_SESSION_LIFETIME": 3600}, clock=clock)
    clock.advance(700)
    assert user_of(longer, f"session={value}").text == "None"
    assert user_of(longer, f"session={log_in(longer)}").text == "'stzz'"


def test_cookie_issued_in_the_future_is_rejected(clock: Clock) -> None:
    app = encrypted_app(clock=clock)
    clock.advance(60)
    value = log_in(app)
    clock.advance(-60)
    assert user_of(app, f"session={value}").text == "None"


def test_times_are_inside_the_ciphertext(clock: Clock) -> None:
    s = SealedCookieSerializer(SECRET, lifetime=600, clock=clock)
    token = b64decode(s.dumps({"user": "stzz"}))
    key = derive_key(SECRET, COOKIE)
    plaintext = AESGCM(key).decrypt(
        token[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE],
        token[HEADER_SIZE + NONCE_SIZE :],
        token[:HEADER_SIZE] + b"satchel-cookie\x00session",
    )
    issued, expires = int.from_bytes(plaintext[:8], "big"), int.from_bytes(plaintext[8:16], "big")
    assert (issued, expires) == (int(clock.now), int(clock.now) + 600)
    # R38: the rest is the tagged JSON itself, not compressed.
    assert plaintext[16:] == b'{"user":"stzz"}'


def test_absolute_lifetime_works_encrypted(clock: Clock) -> None:
    app = encrypted_app(
        {"SESSION_ABSOLUTE_LIFETIME": timedelta(hours=1), "PERMANENT_SESSION_LIFETIME": 600},
        clock=clock,
    )
    client = app.test_client()
    client.get("/set/user/stzz")
    for _ in range(6):
        clock.advance(540)
        assert client.get("/get/user").text == "'stzz'"
        client.get("/set/n/1")
    clock.advance(540)
    response = client.get("/get/user")
    assert response.text == "None"
    assert cookie_of(response) == ""  # deleted


# -- no compression (R38) ---------------------------------------------------------------


def test_nothing_is_compressed_before_encryption(clock: Clock) -> None:
    signed, sealed = make_satchel_app(clock=clock), encrypted_app(clock=clock)
    for app in (signed, sealed):

        @app.route("/repetitive")
        def repetitive() -> str:
            from flask import session

            session["blob"] = "secret=" + "a" * 2000
            return "ok"

    signed_value = cookie_of(signed.test_client().get("/repetitive"))
    sealed_value = cookie_of(sealed.test_client().get("/repetitive"))
    assert signed_value and sealed_value
    assert len(signed_value) < 200  # Flask's format compresses it
    json = '{"blob":"secret=' + "a" * 2000 + '"}'
    assert len(b64decode(sealed_value)) == OVERHEAD + 16 + len(json)  # times + JSON, as is


def test_oversized_encrypted_cookie_fails_with_a_clear_error(clock: Clock) -> None:
    app = encrypted_app(clock=clock)
    app.testing = True

    @app.route("/big")
    def big() -> str:
        from flask import session

        session["avatar"] = "a" * 3500  # would compress; is not
        return "ok"

    with pytest.raises(CookieTooLarge, match="avatar"):
        app.test_client().get("/big")


# -- rotation (R36) ----------------------------------------------------------------------


def test_rotation_old_key_accepted_and_reissued_removed_key_rejected(clock: Clock) -> None:
    before = encrypted_app({"SECRET_KEY": OLD}, clock=clock)
    rotated = encrypted_app({"SECRET_KEY": SECRET, "SECRET_KEY_FALLBACKS": [OLD]}, clock=clock)
    after = encrypted_app({"SECRET_KEY": SECRET}, clock=clock)
    old_value = log_in(before)

    response = user_of(rotated, f"session={old_value}")
    assert response.text == "'stzz'"
    reissued = cookie_of(response)
    assert reissued and reissued != old_value
    assert b64decode(reissued)[1:HEADER_SIZE] == key_id(derive_key(SECRET, COOKIE))
    again = user_of(rotated, f"session={reissued}")
    assert again.text == "'stzz'" and cookie_of(again) is None  # current key: no re-issue

    assert user_of(after, f"session={reissued}").text == "'stzz'"
    assert user_of(after, f"session={old_value}").text == "None"  # the old key is gone


# -- turning encryption on logs nobody out -------------------------------------------------


def test_signed_cookie_is_accepted_and_reissued_sealed(clock: Clock) -> None:
    signed_value = log_in(make_satchel_app(clock=clock))
    assert signed_value.count(".") == 2
    app = encrypted_app(clock=clock)
    response = user_of(app, f"session={signed_value}")
    assert response.text == "'stzz'"
    sealed_value = cookie_of(response)
    assert sealed_value and "." not in sealed_value
    assert b"stzz" not in b64decode(sealed_value)
    assert user_of(app, f"session={sealed_value}").text == "'stzz'"


def test_signed_cookie_from_flask_itself_is_upgraded(frozen_flask: Clock) -> None:
    flask_app = make_flask_app()
    signed_value = cookie_of(flask_app.test_client().get("/set/user/stzz"))
    app = encrypted_app(clock=frozen_flask)
    response = user_of(app, f"session={signed_value}")
    assert response.text == "'stzz'" and "." not in (cookie_of(response) or ".")


def test_signed_cookie_under_a_fallback_key_is_upgraded(clock: Clock) -> None:
    signed_value = log_in(make_satchel_app({"SECRET_KEY": OLD}, clock=clock))
    app = encrypted_app({"SECRET_KEY_FALLBACKS": [OLD]}, clock=clock)
    response = user_of(app, f"session={signed_value}")
    assert response.text == "'stzz'"
    assert b64decode(cookie_of(response) or "")[1:HEADER_SIZE] == key_id(derive_key(SECRET, COOKIE))


def test_bad_signed_cookies_are_still_rejected(clock: Clock) -> None:
    signed_value = log_in(make_satchel_app(clock=clock))
    app = encrypted_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock)
    payload, ts, sig = signed_value.split(".")
    forged = f"{payload}.{ts}.{sig[:-1]}{'A' if sig[-1] != 'A' else 'B'}"
    assert user_of(app, f"session={forged}").text == "None"
    clock.advance(601)
    assert user_of(app, f"session={signed_value}").text == "None"  # expired stays expired


def test_sealed_serializer_without_legacy_refuses_signed_cookies(clock: Clock) -> None:
    s = SealedCookieSerializer(SECRET, clock=clock)
    with pytest.raises(BadToken, match="signed"):
        s.open("a.b.c", None)


def test_duplicate_cookies_garbage_first_still_open(clock: Clock) -> None:
    app = encrypted_app(clock=clock)
    value = log_in(app)
    garbage = "A" * len(value)
    assert user_of(app, f"session={garbage}; session={value}").text == "'stzz'"


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", 1, "False"])
def test_encrypted_setting_must_be_a_bool(value: t.Any) -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_ENCRYPTED=value)
    with pytest.raises(ConfigError, match="SESSION_COOKIE_ENCRYPTED"):
        Satchel(app)


def test_encryption_without_cryptography_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("satchel.config.find_spec", lambda name: None)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, SESSION_COOKIE_ENCRYPTED=True)
    with pytest.raises(ConfigError, match=r"satchel\[crypto\]"):
        Satchel(app)


def test_no_pickle_anywhere() -> None:
    # R30: no module of satchel imports a serializer that can run code.
    unsafe = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "jsonpickle"}
    src = Path(satchel.__file__).parent
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not names & unsafe, f"{path} imports {names & unsafe}"


def test_an_expired_sealed_cookie_is_signalled_as_expired(clock: Clock) -> None:
    from satchel import signals

    app = encrypted_app({"PERMANENT_SESSION_LIFETIME": 600}, clock=clock)
    value = log_in(app)
    reasons: list[str] = []

    def receiver(sender: t.Any, **kwargs: t.Any) -> None:
        reasons.append(kwargs["reason"])

    with signals.session_invalid.connected_to(receiver, app):
        clock.advance(601)
        assert user_of(app, f"session={value}").text == "None"
        user_of(app, "session=" + value[:-6] + "AAAAAA")
    assert reasons == ["expired", "signature"]
