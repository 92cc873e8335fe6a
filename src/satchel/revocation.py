"""Revoking signed cookies: per-user facts kept in a store (R15).

A signed cookie lives in the browser; the server cannot delete it. An app that
opts in (``SESSION_REVOCATION_STORE``) gets the next best thing: each cookie
bound to a user carries the user, its creation time (sub-second) and a random
nonce inside the signed payload, and one record per user says which of them
are dead:

* a *not-before* time: ``satchel.revoke_user`` moves it to now, and every
  cookie of the user created earlier is refused;
* the nonces of cookies ended by ``satchel.logout``, each kept until the
  latest time a copy of that cookie could still be valid.

Both sit in the same record, so checking a cookie costs one store read per
request that carries a logged-in cookie, as before; the record grows by about
60 bytes per logout within one cookie lifetime (ended nonces are pruned at the
next logout once their cookies have expired anyway).
"""

from __future__ import annotations

import hashlib
import typing as t

from .stores.base import Change, Record, Store

_FIELD = "not_before"
#: Prefix of the fields naming ended cookies (``ended:<nonce>`` -> until when).
_ENDED = "ended:"


def _key(user: str) -> str:
    return hashlib.sha256(f"satchel.not-before:{user}".encode()).hexdigest()


class NotBefore:
    """Per-user revocation facts in ``store``.

    :param lifetime: how long a fact must be kept: the longest a cookie can
        live (after that every cookie it concerns has expired anyway).
    """

    def __init__(self, store: Store, lifetime: int) -> None:
        self.store = store
        self.lifetime = lifetime

    def get(self, user: str, now: int) -> float | None:
        """The user's not-before time, or None if never set (or long past)."""
        record = self.store.load(_key(user), now)
        if record is None or _FIELD not in record.data:
            return None
        return float(record.data[_FIELD])

    def refuses(self, user: str, created: float, nonce: str | None, now: int) -> bool:
        """Whether the user's cookie created at ``created`` named ``nonce`` is dead.

        One store read.
        """
        record = self.store.load(_key(user), now)
        if record is None:
            return False
        not_before = record.data.get(_FIELD)
        if not_before is not None and created < float(not_before):
            return True
        return nonce is not None and _ENDED + nonce in record.data

    def set(self, user: str, when: float, now: int) -> None:
        """Refuse the user's cookies created before ``when`` (seconds, sub-second)."""
        self._write(user, {_FIELD: repr(float(when))}, now)

    def end(self, user: str, nonce: str, now: int) -> None:
        """Refuse the user's cookie named ``nonce`` (and every copy of it) from now on."""
        record = self.store.load(_key(user), now)
        expired = [
            name
            for name, until in (record.data.items() if record is not None else ())
            if name.startswith(_ENDED) and float(until) < now
        ]
        self._write(user, {_ENDED + nonce: str(now + self.lifetime)}, now, expired)

    def _write(
        self, user: str, fields: dict[str, str], now: int, delete: t.Sequence[str] = ()
    ) -> None:
        key, expires = _key(user), now + self.lifetime
        if not self.store.update(key, Change(set=fields, delete=delete, expires=expires), now):
            self.store.create(key, Record(data=fields, created=now, expires=expires))
