"""Revoking signed cookies: a per-user "not before" time kept in a store (R15).

A signed cookie lives in the browser; the server cannot delete it. An app that
opts in (``SESSION_REVOCATION_STORE``) gets the next best thing: each cookie
bound to a user carries the user and its creation time inside the signed
payload, and a cookie created before the user's *not-before* time is refused.
``satchel.revoke_user`` moves that time to now. It costs one store read per
request that carries a logged-in cookie.
"""

from __future__ import annotations

import hashlib

from .stores.base import Change, Record, Store

_FIELD = "not_before"


def _key(user: str) -> str:
    return hashlib.sha256(f"satchel.not-before:{user}".encode()).hexdigest()


class NotBefore:
    """Per-user not-before times in ``store``.

    :param lifetime: how long a time must be kept: the longest a cookie can
        live (after that every older cookie has expired anyway).
    """

    def __init__(self, store: Store, lifetime: int) -> None:
        self.store = store
        self.lifetime = lifetime

    def get(self, user: str, now: int) -> int | None:
        """The user's not-before time, or None if never set (or long past)."""
        record = self.store.load(_key(user), now)
        if record is None or _FIELD not in record.data:
            return None
        return int(record.data[_FIELD])

    def set(self, user: str, when: int, now: int) -> None:
        """Refuse the user's cookies created before ``when``."""
        key, expires = _key(user), now + self.lifetime
        change = Change(set={_FIELD: str(when)}, expires=expires)
        if not self.store.update(key, change, now):
            self.store.create(key, Record(data={_FIELD: str(when)}, created=now, expires=expires))
