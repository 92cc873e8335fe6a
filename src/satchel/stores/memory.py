"""In-process store: dicts behind a lock.

For tests, development and single-process apps: sessions vanish when the
process ends and are not shared between worker processes (use SQLite for that).
Records are copied in and out, so a caller never holds the stored objects.

The store is bounded: past ``max_sessions`` it drops the least recently used
*anonymous* session, and a session bound to a user only when no anonymous one
is left (R47: a flood of cookieless visitors cannot push signed-in users out).
Anonymous and bound sessions are kept in two LRU-ordered dicts, so eviction
costs O(1) however full the store is, and a per-user index serves
``sessions_of`` without a scan.
"""

from __future__ import annotations

import itertools
import threading
import typing as t
from collections import OrderedDict
from dataclasses import replace

from .base import Change, Record, Store


class MemoryStore(Store):
    """Sessions in dicts, safe across threads of one process.

    :param max_sessions: how many sessions to keep at most.
    """

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        # Least recently used first; a key is in exactly one of the two.
        self._anonymous: OrderedDict[str, Record] = OrderedDict()
        self._bound: OrderedDict[str, Record] = OrderedDict()
        #: user -> the keys of their sessions (a dict: ordered, O(1) removal).
        self._by_user: dict[str, dict[str, None]] = {}
        self._lock = threading.Lock()

    # -- bookkeeping (under the lock) -------------------------------------------

    def _get(self, key: str) -> Record | None:
        record = self._bound.get(key)
        return self._anonymous.get(key) if record is None else record

    def _put(self, key: str, record: Record) -> None:
        self._drop(key)
        if record.user is None:
            self._anonymous[key] = record
        else:
            self._bound[key] = record
            self._by_user.setdefault(record.user, {})[key] = None

    def _drop(self, key: str) -> Record | None:
        record = self._anonymous.pop(key, None)
        if record is None:
            record = self._bound.pop(key, None)
            if record is not None and record.user is not None:
                keys = self._by_user[record.user]
                del keys[key]
                if not keys:
                    del self._by_user[record.user]
        return record

    def _live(self, key: str, now: int) -> Record | None:
        record = self._get(key)
        if record is None:
            return None
        if record.expires <= now:
            self._drop(key)
            return None
        (self._anonymous if record.user is None else self._bound).move_to_end(key)
        return record

    def _evict(self, now: int) -> None:
        while len(self._anonymous) + len(self._bound) > self.max_sessions:
            # An expired record at either LRU end goes first (one look each);
            # then the least recently used anonymous session; then a bound one.
            for lru in (self._anonymous, self._bound):
                if lru:
                    key = next(iter(lru))
                    if lru[key].expires <= now:
                        self._drop(key)
                        break
            else:
                self._drop(next(iter(self._anonymous or self._bound)))

    # -- the protocol -------------------------------------------------------------

    def load(self, key: str, now: int) -> Record | None:
        with self._lock:
            record = self._live(key, now)
            return None if record is None else replace(record, data=dict(record.data))

    def create(self, key: str, record: Record) -> None:
        with self._lock:
            self._put(key, replace(record, data=dict(record.data)))
            self._evict(record.created)

    def update(self, key: str, change: Change, now: int) -> bool:
        with self._lock:
            record = self._live(key, now)
            if record is None:
                return False
            record.data = change.apply(record.data)
            record.expires = change.expires
            if change.user is not None and change.user != record.user:
                self._put(key, replace(record, user=change.user))  # re-filed as bound
            return True

    def touch(self, key: str, expires: int, now: int) -> bool:
        with self._lock:
            record = self._live(key, now)
            if record is None:
                return False
            record.expires = expires
            return True

    def take(self, key: str, now: int) -> Record | None:
        with self._lock:
            record = self._live(key, now)
            if record is not None:
                self._drop(key)
            return record

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        with self._lock:
            found = []
            for key in list(self._by_user.get(user, ())):
                record = self._bound[key]
                if record.expires > now:
                    found.append((key, replace(record, data=dict(record.data))))
            return found

    def scan(self, now: int, batch: int = 1000) -> t.Iterator[tuple[str, Record]]:
        with self._lock:
            live = [
                (k, replace(r, data=dict(r.data)))
                for records in (self._anonymous, self._bound)
                for k, r in records.items()
                if r.expires > now
            ]
        yield from live

    def purge(self, now: int, batch: int = 1000) -> t.Iterator[int]:
        while True:
            with self._lock:
                expired = list(
                    itertools.islice(
                        (
                            k
                            for records in (self._anonymous, self._bound)
                            for k, r in records.items()
                            if r.expires <= now
                        ),
                        batch,
                    )
                )
                for key in expired:
                    self._drop(key)
            if not expired:
                return
            yield len(expired)
