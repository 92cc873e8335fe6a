"""How a session's values are filed in a store record: as they are, or sealed.

Stores merge a request's changes key by key, so each session value is its
own field. :class:`PlainFields` files ``name -> JSON text``. With
``SESSION_STORE_ENCRYPTED``, :class:`SealedFields` files
``HMAC(name) -> AES-256-GCM(name, JSON text)``, the associated data being the
session's key (its id hash) and the field: a store dump shows neither names
nor values, and a value copied onto another session, or another field, does
not open. Stores still merge per field without reading anything.

Key rotation: a field sealed (or named) under a fallback key still opens; the
session is then rewritten under the current key on its next save.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import typing as t

logger = logging.getLogger("satchel")


class Decoded(t.NamedTuple):
    """What :meth:`PlainFields.decode` returns."""

    #: session key -> the value's JSON text
    texts: dict[str, str]
    #: whether some field was filed under an old key (rewrite it)
    stale: bool


class PlainFields:
    """Values filed as they are, under their own names."""

    def encode(self, key: str, texts: t.Mapping[str, str]) -> dict[str, str]:
        """Record fields for these session values of the session ``key``."""
        return dict(texts)

    def fields_of(self, names: t.Iterable[str]) -> list[str]:
        """Every field a value of these names may be filed under."""
        return list(names)

    def stale_fields_of(self, names: t.Iterable[str]) -> list[str]:
        """Fields of these names under old keys, to drop when they are rewritten."""
        return []

    def decode(self, key: str, data: t.Mapping[str, str]) -> Decoded:
        """Session values from a record's fields."""
        return Decoded(dict(data), False)


class SealedFields(PlainFields):
    """Values sealed with AES-256-GCM, names replaced by a keyed hash.

    :param secret_key: the current secret.
    :param fallbacks: old secrets, oldest first.
    """

    def __init__(self, secret_key: str | bytes, fallbacks: t.Sequence[str | bytes]) -> None:
        from .crypto import STORE, derive_key, get_sealer

        self._sealer = get_sealer(secret_key, fallbacks, STORE)
        # Current key first: it names new fields; the others find old ones.
        self._name_keys = [
            derive_key(s, "store-field-name") for s in [secret_key, *reversed(fallbacks)]
        ]

    def _field(self, name: str, index: int = 0) -> str:
        return hmac.new(self._name_keys[index], name.encode(), hashlib.sha256).hexdigest()[:32]

    def encode(self, key: str, texts: t.Mapping[str, str]) -> dict[str, str]:
        from .crypto import b64encode

        fields = {}
        for name, text in texts.items():
            field = self._field(name)
            plaintext = json.dumps([name, text], ensure_ascii=False).encode()
            fields[field] = b64encode(self._sealer.seal(plaintext, f"{key}/{field}".encode()))
        return fields

    def fields_of(self, names: t.Iterable[str]) -> list[str]:
        return [self._field(n, i) for n in names for i in range(len(self._name_keys))]

    def stale_fields_of(self, names: t.Iterable[str]) -> list[str]:
        return [self._field(n, i) for n in names for i in range(1, len(self._name_keys))]

    def decode(self, key: str, data: t.Mapping[str, str]) -> Decoded:
        from .crypto import b64decode
        from .exc import BadToken

        texts: dict[str, str] = {}
        stale = False
        for field, token in data.items():
            try:
                plaintext, current = self._sealer.unseal(
                    b64decode(token), f"{key}/{field}".encode()
                )
                name, text = json.loads(plaintext)
            except (BadToken, ValueError, TypeError):
                # Not ours to read (tampered, moved, or written unencrypted):
                # the rest of the session still opens.
                logger.warning("satchel: session %s has a field that does not open", key[:12])
                continue
            stale = stale or not current or field != self._field(name)
            texts[name] = text
        return Decoded(texts, stale)
