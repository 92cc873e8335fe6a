"""Session ids for server-side sessions.

An id is 256 bits from :mod:`secrets` (R1), written as 43 base64url characters.
The cookie carries ``id.signature``: the id signed by itsdangerous with a key
derived from ``SECRET_KEY`` for this purpose alone (salt ``satchel.session-id``,
R35), verified with every key of ``SECRET_KEY_FALLBACKS`` too. A value is
checked for length and alphabet, then for its signature, before any store
lookup (R3), so forged or garbage ids never reach the store.

Stores never see an id, only :func:`hash_id` of it (R7): a leaked dump yields
no cookie that works.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import typing as t

from itsdangerous import BadSignature

from .config import require_keys
from .signing import KeyCachingSigner

#: Random bytes in an id.
ID_BYTES = 32
_ID_LENGTH = 43  # base64url of 32 bytes, unpadded
_SIG_LENGTH = 43  # base64url of a SHA-256 HMAC
_COOKIE_RE = re.compile(rf"[A-Za-z0-9_-]{{{_ID_LENGTH}}}\.[A-Za-z0-9_-]{{{_SIG_LENGTH}}}")


def new_id() -> str:
    """A fresh session id: 256 random bits, base64url."""
    return secrets.token_urlsafe(ID_BYTES)


def hash_id(session_id: str) -> str:
    """The key a store files a session under: SHA-256 of the id, in hex."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def looks_like_id(value: str) -> bool:
    """Whether a cookie value has the form of a signed id (not whether it verifies).

    A data cookie (signed: ``payload.time.signature``, or sealed) never has it,
    so the two kinds can share the cookie's name.
    """
    return len(value) == _ID_LENGTH + 1 + _SIG_LENGTH and _COOKIE_RE.fullmatch(value) is not None


class IdSigner:
    """Signs ids for the cookie and verifies them, current key first.

    :param keys: secret keys, oldest first; the last one signs.
    """

    salt = b"satchel.session-id"

    def __init__(self, keys: t.Sequence[str | bytes]) -> None:
        require_keys(keys, "SECRET_KEY / SECRET_KEY_FALLBACKS")
        kwargs = {"salt": self.salt, "key_derivation": "hmac", "digest_method": hashlib.sha256}
        self._all = KeyCachingSigner(list(keys), **kwargs)
        self._current = KeyCachingSigner(keys[-1], **kwargs)
        self._has_fallbacks = len(keys) > 1

    def sign(self, session_id: str) -> str:
        """The cookie value for ``session_id``."""
        return self._current.sign(session_id).decode("ascii")

    def unsign(self, value: str) -> tuple[str, bool]:
        """Return ``(id, by_current_key)`` for a cookie value.

        :raises itsdangerous.BadSignature: if the value is malformed or forged.
        """
        if len(value) != _ID_LENGTH + 1 + _SIG_LENGTH or not _COOKIE_RE.fullmatch(value):
            raise BadSignature("not a session id")
        try:
            return self._current.unsign(value).decode("ascii"), True
        except BadSignature:
            if not self._has_fallbacks:
                raise
        return self._all.unsign(value).decode("ascii"), False
