"""In-process store: a dict behind a lock.

For tests, development and single-process apps: sessions vanish when the
process ends and are not shared between worker processes (use SQLite for that).
Records are copied in and out, so a caller never holds the stored objects. The
store is bounded: past ``max_sessions`` it drops expired records, then the
least recently used ones.
"""

from __future__ import annotations

import threading
import typing as t
from collections import OrderedDict
from dataclasses import replace

from .base import Change, Record, Store


class MemoryStore(Store):
    """Sessions in a dict, safe across threads of one process.

    :param max_sessions: how many sessions to keep at most.
    """

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._records: OrderedDict[str, Record] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, key: str, now: int) -> Record | None:
        record = self._records.get(key)
        if record is None:
            return None
        if record.expires <= now:
            del self._records[key]
            return None
        self._records.move_to_end(key)
        return record

    def load(self, key: str, now: int) -> Record | None:
        with self._lock:
            record = self._live(key, now)
            return None if record is None else replace(record, data=dict(record.data))

    def create(self, key: str, record: Record) -> None:
        with self._lock:
            self._records[key] = replace(record, data=dict(record.data))
            if len(self._records) > self.max_sessions:
                self._evict(record.created)

    def _evict(self, now: int) -> None:
        for key in [k for k, r in self._records.items() if r.expires <= now]:
            del self._records[key]
        while len(self._records) > self.max_sessions:
            self._records.popitem(last=False)  # least recently used

    def update(self, key: str, change: Change, now: int) -> bool:
        with self._lock:
            record = self._live(key, now)
            if record is None:
                return False
            record.data = change.apply(record.data)
            record.expires = change.expires
            if change.user is not None:
                record.user = change.user
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
                del self._records[key]
            return record

    def delete(self, key: str) -> None:
        with self._lock:
            self._records.pop(key, None)

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        # A linear scan: the memory store is bounded and meant for one process.
        with self._lock:
            return [
                (key, replace(r, data=dict(r.data)))
                for key, r in self._records.items()
                if r.user == user and r.expires > now
            ]

    def scan(self, now: int, batch: int = 1000) -> t.Iterator[tuple[str, Record]]:
        with self._lock:
            live = [
                (k, replace(r, data=dict(r.data)))
                for k, r in self._records.items()
                if r.expires > now
            ]
        yield from live

    def purge(self, now: int, batch: int = 1000) -> t.Iterator[int]:
        while True:
            with self._lock:
                expired = [k for k, r in self._records.items() if r.expires <= now][:batch]
                for key in expired:
                    del self._records[key]
            if not expired:
                return
            yield len(expired)
