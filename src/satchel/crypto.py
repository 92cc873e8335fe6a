"""Encryption: per-purpose keys, an AEAD sealer with key ids, the sealed cookie.

Everything cryptographic comes from the ``cryptography`` package (AES-256-GCM,
HKDF-SHA256) and ``os.urandom``; nothing here is home-made.

**Keys.** :func:`derive_key` derives a 256-bit key from ``SECRET_KEY`` with
HKDF-SHA256, one per purpose (:data:`COOKIE`, :data:`STORE`, :data:`SESSION_ID`),
so the same secret never serves two purposes and a token made for one is useless
for another (R35). Flask's signed cookie keeps its own derivation
(itsdangerous, salt ``"cookie-session"``), which differs from all of these.

**Tokens.** :class:`Sealer` turns bytes into::

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)

The version and key id are authenticated together with the caller's associated
data. The key id is the first 4 bytes of a SHA-256 of the derived key: it lets
the reader pick the key without trying each, and says nothing about the secret.
A token names nothing else; in particular it cannot choose an algorithm (R32).
The nonce is 12 fresh random bytes per token. NIST SP 800-38D allows 2**32
tokens per key with random 96-bit nonces (a repeat then stays below one chance
in 2**32); a site that re-issues cookies on every request should rotate
``SECRET_KEY`` before it writes that many. The AEAD tag is checked, by
OpenSSL in constant time, before anything of the plaintext is looked at (R29,
R31).

**Rotation.** A sealer is built from the current key and ``SECRET_KEY_FALLBACKS``:
it always seals with the current key and opens with any of them, and
:meth:`Sealer.unseal` says whether an old key was needed, so that the caller
re-issues the value under the current key (R36).

**No compression.** Plaintexts are never compressed before encryption: the
length of a compressed ciphertext reveals how much of the plaintext repeats
(CRIME, BREACH), which lets an attacker who can put text in a session guess a
secret next to it. A sealed cookie is therefore about a third larger than its
JSON (base64), never smaller (R38).

**The sealed cookie.** :class:`SealedCookieSerializer` is what
``SESSION_COOKIE_ENCRYPTED = True`` uses. Its plaintext is the issue time and
the expiry time (8 bytes each, seconds since the epoch) followed by the tagged
JSON of the session; its associated data binds the cookie name, so a value
cannot be moved to another cookie. An expired token, or one issued in the
future, does not open (R37).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import re
import struct
import time
import typing as t

from ._optional import optional_import
from .config import require_keys
from .exc import BadToken, TokenExpired

with optional_import("Encryption (SESSION_COOKIE_ENCRYPTED, SESSION_STORE_ENCRYPTED)"):
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from .tagged import session_json

if t.TYPE_CHECKING:
    from .cookie import CookieOpener

#: Purpose of the key that encrypts the session cookie.
COOKIE = "cookie"
#: Purpose of the key that encrypts session payloads at rest in a server store.
STORE = "store"
#: Purpose of the key that signs server-side session ids.
SESSION_ID = "session-id"

#: The only token format there is; a token with another version byte does not open.
VERSION = 1
KEY_ID_SIZE = 4
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER_SIZE = 1 + KEY_ID_SIZE
#: Bytes a token adds to its plaintext.
OVERHEAD = HEADER_SIZE + NONCE_SIZE + TAG_SIZE

Clock = t.Callable[[], float]
Secret = str | bytes

_HKDF_SALT = b"satchel/hkdf/v1"
_VERSION_BYTE = bytes([VERSION])


@functools.lru_cache(maxsize=128)
def derive_key(secret: Secret, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from ``secret`` with HKDF-SHA256.

    A str secret is used as its UTF-8 bytes, as itsdangerous does. The result
    is stable across satchel versions (tokens issued before an upgrade must
    keep opening), and cached, so calling it per request costs a dict lookup.

    :param purpose: what the key is for, such as :data:`COOKIE`,
        :data:`STORE` or :data:`SESSION_ID`; different purposes give
        unrelated keys.
    """
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or not secret:
        raise TypeError("The secret key must be a non-empty str or bytes.")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=_HKDF_SALT,
        info=b"satchel/" + purpose.encode("utf-8"),
    )
    return hkdf.derive(secret)


def derive_keys(secret: Secret, fallbacks: t.Iterable[Secret], purpose: str) -> list[bytes]:
    """The keys for ``purpose``: the current one first, then the fallbacks', newest first.

    ``fallbacks`` is ``SECRET_KEY_FALLBACKS`` (oldest first, as Flask reads
    it). A fallback equal to the current secret is left out (the configuration
    check reports it).

    :raises satchel.ConfigError: if a fallback is empty (R43).
    """
    current = derive_key(secret, purpose)
    keys = [current]
    fallbacks = list(fallbacks)
    require_keys(fallbacks, "SECRET_KEY_FALLBACKS")
    for old in reversed(fallbacks):
        key = derive_key(old, purpose)
        if key not in keys:
            keys.append(key)
    return keys


def key_id(key: bytes) -> bytes:
    """The 4-byte id that names ``key`` in a token."""
    return hashlib.sha256(b"satchel/key-id\x00" + key).digest()[:KEY_ID_SIZE]


class Unsealed(t.NamedTuple):
    """What :meth:`Sealer.unseal` returns."""

    plaintext: bytes
    #: False when a fallback key opened the token: re-seal it with the current key.
    by_current_key: bool


class Sealer:
    """Seals and opens bytes with AES-256-GCM under rotating keys.

    ::

        sealer = Sealer(app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] or (),
                        purpose=satchel.crypto.STORE)
        token = sealer.seal(payload, aad=id_hash)
        payload, by_current_key = sealer.unseal(token, aad=id_hash)

    ``aad`` (associated data) is authenticated but not stored in the token:
    the same bytes must be given to open it. Use it to bind a token to where it
    belongs (a cookie name, a session's id hash), so that it cannot be moved.

    :param secret_key: the current secret; it seals.
    :param fallbacks: old secrets, oldest first (``SECRET_KEY_FALLBACKS``);
        they only open.
    :param purpose: the key's purpose, see :func:`derive_key`.
    """

    def __init__(
        self, secret_key: Secret, fallbacks: t.Iterable[Secret] = (), *, purpose: str
    ) -> None:
        self.purpose = purpose
        keys = derive_keys(secret_key, fallbacks, purpose)
        # Two keys may share an id (one chance in 2**32): keep a list per id,
        # the current key first.
        self._by_id: dict[bytes, list[tuple[AESGCM, bool]]] = {}
        for i, key in enumerate(keys):
            self._by_id.setdefault(key_id(key), []).append((AESGCM(key), i == 0))
        self._header = _VERSION_BYTE + key_id(keys[0])
        self._aead = AESGCM(keys[0])

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypt and authenticate ``plaintext`` (with ``aad``) under the current key."""
        nonce = os.urandom(NONCE_SIZE)
        header = self._header
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + aad)

    def unseal(self, token: bytes, aad: bytes = b"") -> Unsealed:
        """Authenticate and decrypt ``token``; say whether the current key opened it.

        :raises satchel.BadToken: if the token is malformed, of another version,
            under no known key, tampered with or bound to other ``aad``.
        """
        if len(token) < OVERHEAD:
            raise BadToken("The token is too short.")
        if token[0] != VERSION:
            raise BadToken("The token has an unknown format version.")
        candidates = self._by_id.get(token[1:HEADER_SIZE])
        if candidates is None:
            raise BadToken("The token is under a key that is not configured.")
        nonce = token[HEADER_SIZE : HEADER_SIZE + NONCE_SIZE]
        ciphertext = token[HEADER_SIZE + NONCE_SIZE :]
        aad = token[:HEADER_SIZE] + aad
        for aead, current in candidates:
            try:
                return Unsealed(aead.decrypt(nonce, ciphertext, aad), current)
            except InvalidTag:
                continue
        raise BadToken("The token does not authenticate: tampered, or made for something else.")

    def open(self, token: bytes, aad: bytes = b"") -> bytes:
        """The plaintext of ``token``, under whichever configured key opens it.

        :raises satchel.BadToken: as :meth:`unseal`.
        """
        return self.unseal(token, aad).plaintext


@functools.lru_cache(maxsize=32)
def _cached_sealer(secret: Secret, fallbacks: tuple[Secret, ...], purpose: str) -> Sealer:
    return Sealer(secret, fallbacks, purpose=purpose)


def get_sealer(secret_key: Secret, fallbacks: t.Iterable[Secret] | None, purpose: str) -> Sealer:
    """A :class:`Sealer` for these keys and purpose, built once and then reused.

    Meant for per-request callers (stores), which should not derive keys and
    build cipher objects on every request.
    """
    return _cached_sealer(secret_key, tuple(fallbacks or ()), purpose)


# -- the sealed cookie --------------------------------------------------------

_TIMES = struct.Struct(">QQ")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
#: A value longer than a browser keeps is not even decoded.
_MAX_VALUE = 8192


def b64encode(data: bytes) -> str:
    """Unpadded base64url, the cookie alphabet (R24)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(value: str) -> bytes:
    """Inverse of :func:`b64encode`; raises :class:`BadToken` on anything else."""
    if len(value) > _MAX_VALUE or not _B64URL.fullmatch(value):
        raise BadToken("The value is not unpadded base64url.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadToken("The value is not unpadded base64url.") from e


class SealedCookieSerializer:
    """The encrypted session cookie: tagged JSON sealed with AES-256-GCM.

    It has the interface :func:`satchel.cookie.open_session` and
    :func:`satchel.cookie.seal` need (``open``, ``dumps``) plus ``loads``.

    :param secret_key: the current secret; it seals.
    :param fallbacks: old secrets, oldest first; they only open, and a cookie
        they opened is reported as not ``by_current_key`` so it is re-issued.
    :param name: the cookie's name, bound into the associated data.
    :param lifetime: seconds a cookie is valid after it was issued (stamped
        into it as its expiry time), or None for no stamped expiry.
    :param legacy: a serializer for the signed (not encrypted) cookie, such as
        :class:`satchel.signing.CookieSerializer`. A valid signed cookie is then
        accepted and reported as not ``by_current_key``, so that it is re-issued
        sealed: turning encryption on logs nobody out.
    :param clock: returns the current time in seconds.
    """

    def __init__(
        self,
        secret_key: Secret,
        fallbacks: t.Iterable[Secret] = (),
        *,
        name: str = "session",
        lifetime: int | None = None,
        legacy: CookieOpener | None = None,
        clock: Clock = time.time,
        serializer: t.Any = session_json,
    ) -> None:
        self.sealer = Sealer(secret_key, fallbacks, purpose=COOKIE)
        self.name = name
        self.lifetime = lifetime
        self.legacy = legacy
        self.clock = clock
        self.serializer = serializer
        # "cookie" and a NUL keep this apart from any other use of the key.
        self._aad = b"satchel-cookie\x00" + name.encode("utf-8")

    def dumps(self, obj: t.Any) -> str:
        """Seal ``obj`` (a mapping of tagged-JSON values) into a cookie value."""
        issued = int(self.clock())
        expires = issued + self.lifetime if self.lifetime is not None else 0
        plaintext = _TIMES.pack(issued, expires) + self.serializer.dumps(obj).encode("utf-8")
        return b64encode(self.sealer.seal(plaintext, self._aad))

    def open(
        self, value: str | bytes, max_age: int | None, want_timestamp: bool = False
    ) -> tuple[t.Any, int | None, bool]:
        """Open a cookie value: ``(data, issued_at, by_current_key)``.

        ``issued_at`` is the issue time in seconds when ``want_timestamp`` is
        true, else None. A signed cookie (with ``legacy``) comes back with
        ``by_current_key`` False.

        :raises satchel.BadToken: if it does not open, expired (its stamped
            expiry or ``max_age`` after issue) or was issued in the future;
            what ``legacy`` raises for a bad signed cookie.
        """
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if "." in value:  # signed cookies have dots; base64url has none
            if self.legacy is None:
                raise BadToken("A signed cookie where a sealed one is expected.")
            data, signed_at, _ = self.legacy.open(value, max_age, want_timestamp)
            return data, signed_at, False
        plaintext, by_current_key = self.sealer.unseal(b64decode(value), self._aad)
        if len(plaintext) < _TIMES.size:
            raise BadToken("The sealed cookie has no times.")
        issued, expires = _TIMES.unpack_from(plaintext)
        now = int(self.clock())
        if issued > now:
            raise BadToken("The cookie was issued in the future.")
        if (expires and now > expires) or (max_age is not None and now - issued > max_age):
            raise TokenExpired("The cookie has expired.")
        data = self.serializer.loads(plaintext[_TIMES.size :])
        return data, issued if want_timestamp else None, by_current_key

    def loads(self, value: str | bytes, max_age: int | None = None) -> t.Any:
        """The data of a cookie value (see :meth:`open`)."""
        return self.open(value, max_age)[0]
