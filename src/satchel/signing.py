"""Flask's signed cookie format, built from itsdangerous.

A cookie value is ``payload.timestamp.signature`` exactly as Flask writes it:
``URLSafeTimedSerializer`` with salt ``"cookie-session"``, HMAC key derivation
and SHA-1, the payload being tagged JSON, zlib-compressed (and prefixed with
``.``) when that saves at least two bytes. The classes here only add what a busy
server wants on top of itsdangerous:

* derived keys are cached (itsdangerous derives the key again, one more HMAC,
  on every sign and verify);
* signers are cached per salt instead of built on every call;
* decompression is capped, after the signature was checked (R29);
* the clock can be injected, for tests of expiry;
* :meth:`CookieSerializer.open` tells whether the current key or a fallback
  verified the cookie, so that a cookie signed with an old key is re-issued.
"""

from __future__ import annotations

import hashlib
import time
import typing as t
import zlib

from itsdangerous import (
    BadPayload,
    BadSignature,
    Serializer,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_decode

from .config import require_keys

Clock = t.Callable[[], float]

#: Largest payload a compressed cookie may inflate to. A cookie is at most 4 KiB,
#: and only a payload whose signature verified is ever inflated.
MAX_DECOMPRESSED = 1 << 20


#: Flask's digest. OpenSSL's constructor itself, not a wrapper: ``hmac`` only
#: takes its C fast path for those (a fifth faster per signature).
sha1 = hashlib.sha1


class KeyCachingSigner(Signer):
    """itsdangerous's ``Signer``, deriving each key once instead of on every call."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | str | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        try:
            return self._derived[secret_key]
        except KeyError:
            key = self._derived[secret_key] = super().derive_key(secret_key)
            return key


class CookieSigner(KeyCachingSigner, TimestampSigner):
    """itsdangerous's ``TimestampSigner`` with cached derived keys and a clock."""

    def __init__(self, *args: t.Any, clock: Clock = time.time, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock())


class CookieSerializer(URLSafeTimedSerializer):
    """The serializer behind Flask's session cookie, tuned as the module says.

    Construct it like ``URLSafeTimedSerializer``; keys are oldest first, the
    last one signs. ``clock`` returns the current time in seconds.
    """

    default_signer = CookieSigner

    def __init__(
        self,
        secret_key: t.Any,
        salt: str | bytes | None = b"cookie-session",
        serializer: t.Any = None,
        signer_kwargs: dict[str, t.Any] | None = None,
        clock: Clock = time.time,
    ) -> None:
        signer_kwargs = {
            "key_derivation": "hmac",
            "digest_method": sha1,
            **(signer_kwargs or {}),
            "clock": clock,
        }
        super().__init__(secret_key, salt=salt, serializer=serializer, signer_kwargs=signer_kwargs)
        require_keys(self.secret_keys, "SECRET_KEY / SECRET_KEY_FALLBACKS")
        self.clock = clock
        self._signers: dict[t.Any, t.Any] = {}

    def make_signer(self, salt: str | bytes | None = None) -> t.Any:
        try:
            return self._signers[salt]
        except KeyError:
            signer = self._signers[salt] = super().make_signer(salt)
            return signer

    def _current_signer(self) -> t.Any:
        try:
            return self._signers["current"]
        except KeyError:
            salt = self.salt
            signer = self.signer(self.secret_keys[-1:], salt=salt, **self.signer_kwargs)
            self._signers["current"] = signer
            return signer

    def load_payload(self, payload: bytes, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if payload.startswith(b"."):
            try:
                inflater = zlib.decompressobj()
                json = inflater.decompress(base64_decode(payload[1:]), MAX_DECOMPRESSED)
            except Exception as e:
                raise BadPayload("Could not decompress the payload", original_error=e) from e
            if inflater.unconsumed_tail:
                raise BadPayload("The payload inflates beyond the size limit")
            return Serializer.load_payload(self, json, *args, **kwargs)
        return super().load_payload(payload, *args, **kwargs)

    def open(
        self, value: str | bytes, max_age: int | None, want_timestamp: bool = False
    ) -> tuple[t.Any, int | None, bool]:
        """Verify and load a cookie value.

        Returns ``(data, signed_at, by_current_key)``; ``signed_at`` is the
        signing time in seconds when ``want_timestamp`` is true, else None.

        :raises itsdangerous.BadSignature: if no key verifies it, it is older
            than ``max_age`` or dated in the future, or its payload is invalid.
        """
        by_current = True
        try:
            result = self._current_signer().unsign(value, max_age, return_timestamp=want_timestamp)
        except SignatureExpired:
            raise
        except BadSignature:
            if len(self.secret_keys) == 1:
                raise
            # Verifies the current key once more; only cookies under an old key
            # (or forged ones) pay for that.
            result = self.make_signer(self.salt).unsign(
                value, max_age, return_timestamp=want_timestamp
            )
            by_current = False
        if want_timestamp:
            payload, signed_at = result
            return self.load_payload(payload), int(signed_at.timestamp()), by_current
        return self.load_payload(result), None, by_current
