"""Server-side session ids: known answers for their entropy, signature and hash (R1, R7, R35)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

import pytest
from itsdangerous import BadSignature

from satchel.ids import IdSigner, hash_id, new_id

SID = "A" * 43
SECRET = "id-secret-0123456789abcdef0123456789"


def _expected_signature(secret: str, value: str) -> str:
    # itsdangerous' Signer(salt=..., key_derivation="hmac", digest=sha256), written out.
    key = hmac.new(secret.encode(), b"satchel.session-id", hashlib.sha256).digest()
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def test_an_id_is_256_bits_from_secrets_in_base64url(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []

    def token_bytes(n: int) -> bytes:
        asked.append(n)
        return bytes(range(n))

    monkeypatch.setattr(secrets, "token_bytes", token_bytes)
    sid = new_id()
    assert asked == [32]
    assert sid == base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()


def test_ids_are_43_base64url_characters_and_never_repeat() -> None:
    ids = {new_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", sid) for sid in ids)


def test_the_store_key_is_the_sha256_of_the_id_in_hex() -> None:
    assert hash_id("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_id(SID) == hashlib.sha256(SID.encode()).hexdigest()


def test_the_id_signature_is_known_and_salted_for_ids_alone() -> None:
    value = IdSigner([SECRET]).sign(SID)
    assert value == f"{SID}.{_expected_signature(SECRET, SID)}"
    # Pinned: a change of salt, digest or derivation would log everybody out.
    assert value.split(".")[1] == _expected_signature(SECRET, SID)
    assert len(value) == 87


def test_a_valid_value_opens_with_the_current_key() -> None:
    signer = IdSigner([SECRET])
    assert signer.unsign(signer.sign(SID)) == (SID, True)


def test_a_fallback_key_opens_and_says_so() -> None:
    old = IdSigner(["old-key-0123456789abcdef0123456789"])
    both = IdSigner(["old-key-0123456789abcdef0123456789", SECRET])
    assert both.unsign(old.sign(SID)) == (SID, False)
    assert both.unsign(both.sign(SID)) == (SID, True)
    assert both.sign(SID) == IdSigner([SECRET]).sign(SID)  # the last key signs
    with pytest.raises(BadSignature):
        IdSigner([SECRET]).unsign(old.sign(SID))
    with pytest.raises(BadSignature):
        both.unsign(IdSigner(["third-key-0123456789abcdef01234567"]).sign(SID))


@pytest.mark.parametrize(
    "bad",
    [
        "",
        SID,
        SID + ".",
        "A" * 42 + "." + "B" * 44,
        "A" * 44 + "." + "B" * 42,
        "A" * 43 + "." + "B" * 43,  # well formed, forged
        "A" * 43 + "!" + "B" * 43,
        "A" * 42 + "=." + "B" * 43,
        "A" * 43 + "." + "B" * 42 + "+",
        "A" * 43 + "." + "B" * 43 + "\n",
    ],
)
def test_malformed_or_forged_values_are_refused(bad: str) -> None:
    with pytest.raises(BadSignature):
        IdSigner([SECRET]).unsign(bad)


def test_a_signature_with_other_characters_is_refused_before_verifying() -> None:
    signer = IdSigner([SECRET])
    good = signer.sign(SID)
    # Same length, one character outside base64url: refused by the format check.
    with pytest.raises(BadSignature, match="not a session id"):
        signer.unsign(good[:-1] + "=")
    with pytest.raises(BadSignature, match="not a session id"):
        signer.unsign("=" + good[1:])
