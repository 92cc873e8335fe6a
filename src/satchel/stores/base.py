"""The store protocol: what a backend must do to hold server-side sessions.

A store files each session under a *key*, the hash of its id (it never sees an
id), as a :class:`Record`: the session's values, one serialized JSON text per
session key, plus its creation and expiry times and the user it belongs to.

The rules that make sessions safe under concurrency live here, and every store
keeps them (``tests/stores/test_conformance.py`` checks each one):

* :meth:`Store.update` applies a :class:`Change` (the keys one request set or
  deleted) **atomically onto what is stored now**, so two requests that change
  different keys both survive;
* :meth:`Store.update`, :meth:`Store.touch` and :meth:`Store.take` **never
  create** a record: on a key that was deleted, taken or has expired they do
  nothing and return False/None, so a request that loaded a session which was
  logged out, regenerated or expired meanwhile cannot bring it back;
* a record whose ``expires`` has passed is treated as absent by every method,
  whether or not it has been purged yet.

Times are whole seconds since the epoch, passed in by the caller (``now``), so
tests and the clock of the caller decide, not the store's server.

To add a backend, subclass :class:`Store` and implement the abstract methods;
``tests/stores/test_conformance.py`` shows what each must do.
"""

from __future__ import annotations

import abc
import typing as t
from dataclasses import dataclass, field


@dataclass
class Record:
    """A stored session.

    :param data: session key -> the value's tagged JSON text.
    :param created: when the session was created.
    :param expires: when it expires unless activity extends it (idle timeout).
    :param user: the user it is bound to, if any (for listing and revoking).
    """

    data: dict[str, str]
    created: int
    expires: int
    user: str | None = None


@dataclass(frozen=True)
class Change:
    """What one request changed, to apply onto the stored record.

    :param set: session keys to (over)write, with their new JSON texts.
    :param delete: session keys to remove.
    :param replace: remove every stored key that is not in ``set`` (the
        request cleared the session before setting keys).
    :param expires: the record's new expiry time.
    :param user: if not None, bind the record to this user.
    """

    set: t.Mapping[str, str] = field(default_factory=dict)
    delete: t.Collection[str] = ()
    replace: bool = False
    expires: int = 0
    user: str | None = None

    def apply(self, data: dict[str, str]) -> dict[str, str]:
        """``data`` with this change applied (a new dict)."""
        merged = {} if self.replace else dict(data)
        for key in self.delete:
            merged.pop(key, None)
        merged.update(self.set)
        return merged


class Store(abc.ABC):
    """Where server-side sessions live. Subclass it for another database."""

    @abc.abstractmethod
    def load(self, key: str, now: int) -> Record | None:
        """The record filed under ``key``, or None if absent or expired."""

    @abc.abstractmethod
    def create(self, key: str, record: Record) -> None:
        """File a new record under a fresh ``key``."""

    @abc.abstractmethod
    def update(self, key: str, change: Change, now: int) -> bool:
        """Atomically apply ``change`` to the live record under ``key``.

        Returns False, writing nothing, if there is no live record.
        """

    @abc.abstractmethod
    def touch(self, key: str, expires: int, now: int) -> bool:
        """Move a live record's expiry to ``expires``; False if there is none."""

    @abc.abstractmethod
    def take(self, key: str, now: int) -> Record | None:
        """Atomically remove the live record under ``key`` and return it."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the record under ``key``, if any."""

    @abc.abstractmethod
    def purge(self, now: int, batch: int = 1000) -> t.Iterator[int]:
        """Remove expired records, ``batch`` at a time, yielding each batch's count.

        Safe to run from several processes at once, with bounded memory.
        Stores whose server expires data by itself (Redis) yield nothing.
        """

    @abc.abstractmethod
    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        """The live records bound to ``user``, as ``(key, record)`` pairs.

        Served by an index on the user, not a scan of every session.
        """

    @abc.abstractmethod
    def scan(self, now: int, batch: int = 1000) -> t.Iterator[tuple[str, Record]]:
        """Every live record, read ``batch`` at a time (for the operator's CLI)."""

    def rename(self, old: str, new: str, change: Change, now: int) -> bool:
        """Move the live record under ``old`` to ``new``, applying ``change``.

        After it returns, ``old`` is dead. Returns False, writing nothing, if
        there was no live record under ``old``. Stores that can do it in one
        transaction override this; the default takes then creates.
        """
        record = self.take(old, now)
        if record is None:
            return False
        record.data = change.apply(record.data)
        record.expires = change.expires
        record.user = change.user if change.user is not None else record.user
        self.create(new, record)
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
