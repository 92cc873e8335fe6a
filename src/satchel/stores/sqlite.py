"""SQLite store: the embedded default, shared by every worker process on one machine.

One file holds the sessions of all the processes and threads of an app:

* **WAL mode**, so readers never wait for the writer and a write is one append
  to the log (``synchronous=NORMAL``: a crash of the app loses nothing; a power
  cut may lose the last writes, never the file);
* **one connection per thread and per process**, opened on first use and
  cached; one inherited across ``fork()`` is left alone in the child, as
  SQLite requires;
* a **busy timeout**: a process that finds the file locked waits for it, up
  to ``timeout`` seconds, before :class:`~satchel.StoreUnavailable` is raised;
* **atomic merges across processes**: :meth:`SQLiteStore.update` merges in a
  single ``UPDATE`` (SQLite's ``json_patch``), or, where SQLite lacks JSON
  functions, reads, merges and writes inside ``BEGIN IMMEDIATE``, which takes
  the write lock before reading. ``take`` and ``rename`` use ``BEGIN IMMEDIATE``.

It uses the standard library's :mod:`sqlite3`, not SQLAlchemy: a load must cost
a few microseconds, and SQLAlchemy's per-statement overhead alone is several
times that.

Schema (created on first use)::

    key      TEXT PRIMARY KEY   -- the 64-hex hash of the session id
    data     TEXT               -- JSON object: session key -> the value's JSON text
    created  INTEGER            -- seconds since the epoch
    expires  INTEGER            -- indexed, for purge
    user_id  TEXT               -- indexed where not null, to list a user's sessions

The table is ``WITHOUT ROWID``: rows live in the primary key's b-tree, so a
load walks one b-tree instead of an index and then the table. With a million
sessions that is about a quarter less read cost, a smaller file, and a purge
about five times faster (no separate key index to delete from at random
places; see bench/scale.py).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
import typing as t
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..exc import ConfigError, StoreUnavailable
from .base import Change, Record, Store

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

# How many times this process has forked: a connection opened under another
# count belongs to the parent process. Bumped by a fork hook, so that the hot
# path compares two ints instead of calling os.getpid() (a syscall) each time.
_forks = 0
# Connections inherited from the parent process: kept referenced so that this
# process never touches them, not even to close them (SQLite: a connection must
# not cross fork()).
_inherited: list[sqlite3.Connection] = []


def _after_fork() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_after_fork)

# The C scanner behind json.loads, without json.loads' checks: the data column is
# always a JSON object written by this module, and this saves ~0.7 µs per load.
_scan: Callable[[str, int], tuple[t.Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _decode(text: str) -> dict[str, str]:
    try:
        data, end = _scan(text, 0)
    except StopIteration:
        data, end = None, -1
    if type(data) is not dict or end != len(text):
        raise ValueError("satchel: a session record's data is not a JSON object")
    return data


def check_table_name(table: str) -> str:
    """``table`` if it is a plain SQL identifier (it is written into SQL)."""
    if not _NAME.fullmatch(table):
        raise ConfigError(
            f"satchel: table name {table!r} must be letters, digits and underscores,"
            " not starting with a digit, at most 63 characters."
        )
    return table


def _unavailable(error: sqlite3.Error, path: str) -> StoreUnavailable:
    return StoreUnavailable(f"satchel: the SQLite session store {path!r} failed: {error}")


class SQLiteStore(Store):
    """Sessions in one SQLite file, shared by every process and thread on one machine.

    :param path: the database file; created if missing, but its directory must exist.
    :param table: the table to keep sessions in, created on first use.
    :param timeout: seconds to wait for a lock held by another connection
        before raising :class:`~satchel.StoreUnavailable`.
    :param mmap_size: how many bytes of the file connections read through
        memory mapping instead of ``read()`` calls (0 turns it off): no system
        call nor copy per page, and the mapped pages are the OS page cache,
        shared by every connection and process. Turn it off where the file
        lives on a network file system.
    :raises satchel.ConfigError: if the directory does not exist or the path is
        an in-memory database (which no two threads would share).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        table: str = "satchel_sessions",
        *,
        timeout: float = 5.0,
        mmap_size: int = 1 << 30,
    ) -> None:
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise ConfigError(
                f"satchel: SQLiteStore needs a file path, not {self.path!r}; for sessions"
                " held in this process only, use 'memory://'."
            )
        directory = Path(self.path).absolute().parent
        if not directory.is_dir():
            raise ConfigError(
                f"satchel: cannot keep sessions in {self.path!r}: the directory"
                f" {str(directory)!r} does not exist. Create it, or choose another path."
            )
        self.table = check_table_name(table)
        self.timeout = timeout
        self.mmap_size = int(mmap_size)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Every open connection, by thread: close() closes them all, and those of
        # finished threads are closed when a new one is opened.
        self._conns: dict[threading.Thread, sqlite3.Connection] = {}
        self._forks = _forks
        self._ready = False  # table and indexes exist
        #: Whether update merges in SQL (json_patch); found out on first connection.
        self.merge_in_sql: bool | None = None

        q = f'"{self.table}"'
        self._sql_load = (
            f"SELECT data, created, expires, user_id FROM {q} WHERE key = ? AND expires > ?"
        )
        self._sql_create = (
            f"INSERT OR REPLACE INTO {q} (key, data, created, expires, user_id)"
            " VALUES (?, ?, ?, ?, ?)"
        )
        # Merges, by (replace, user named): user_id is only written when the
        # change names a user, so that its index is not rewritten every time.
        live = " WHERE key = ? AND expires > ?"
        patch, set_ = f"UPDATE {q} SET data = json_patch(data, ?)", f"UPDATE {q} SET data = ?"
        self._sql_merge = {
            (False, False): f"{patch}, expires = ?{live}",
            (False, True): f"{patch}, expires = ?, user_id = ?{live}",
            (True, False): f"{set_}, expires = ?{live}",
            (True, True): f"{set_}, expires = ?, user_id = ?{live}",
        }
        self._sql_write = f"{set_}, expires = ?, user_id = ? WHERE key = ?"
        columns = "key, data, created, expires, user_id"
        self._sql_of_user = (
            f"SELECT {columns} FROM {q} WHERE user_id = ? AND expires > ? ORDER BY key"
        )
        self._sql_scan = (
            f"SELECT {columns} FROM {q} WHERE key > ? AND expires > ? ORDER BY key LIMIT ?"
        )
        self._sql_touch = f"UPDATE {q} SET expires = ? WHERE key = ? AND expires > ?"
        self._sql_delete = f"DELETE FROM {q} WHERE key = ?"
        self._sql_purge = (
            f"DELETE FROM {q} WHERE key IN (SELECT key FROM {q} WHERE expires <= ? LIMIT ?)"
        )

    @classmethod
    def from_url(cls, url: str, table: str = "satchel_sessions") -> SQLiteStore:
        """The store for ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        prefix = "sqlite:///"
        path = url[len(prefix) :] if url[: len(prefix)].lower() == prefix else ""
        if not path or "?" in path:
            raise ConfigError(
                f"satchel: {url!r} is not a SQLite file URL such as 'sqlite:///sessions.db'"
                " (relative) or 'sqlite:////var/lib/app/sessions.db' (absolute)."
            )
        return cls(path, table)

    # -- connections ----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        local = self._local
        try:
            if local.forks == _forks:
                return local.conn  # type: ignore[no-any-return]
        except AttributeError:
            pass
        return self._connect()

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._forks != _forks:  # first use in a child process
                _inherited.extend(self._conns.values())
                self._conns.clear()
                self._forks = _forks
            for thread in [th for th in self._conns if not th.is_alive()]:
                self._conns.pop(thread).close()
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.timeout,
                    isolation_level=None,  # autocommit; transactions are explicit
                    check_same_thread=False,  # close() may close it from another thread
                )
            except sqlite3.Error as e:
                raise _unavailable(e, self.path) from e
            try:
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute(f"PRAGMA mmap_size = {self.mmap_size}")
                if not self._ready:
                    self._create_schema(conn)
                    self._ready = True
                if self.merge_in_sql is None:
                    self.merge_in_sql = _has_json_patch(conn)
            except sqlite3.Error as e:
                conn.close()
                raise _unavailable(e, self.path) from e
            self._conns[threading.current_thread()] = conn
        self._local.conn, self._local.forks = conn, _forks
        return conn

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        q, table = f'"{self.table}"', self.table
        # WAL is a property of the file: set once, kept by every later connection.
        # Switching to it ignores the busy timeout when another process is
        # switching too (several workers starting on a new file): wait here.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q} (key TEXT PRIMARY KEY, data TEXT NOT NULL,"
            " created INTEGER NOT NULL, expires INTEGER NOT NULL, user_id TEXT) WITHOUT ROWID"
        )
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{table}_expires" ON {q} (expires)')
        # Partial: anonymous sessions cost no entry in it.
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS "{table}_user_id" ON {q} (user_id)'
            " WHERE user_id IS NOT NULL"
        )

    def close(self) -> None:
        """Close every connection this store opened; it reopens them if used again."""
        with self._lock:
            conns = list(self._conns.values())
            if self._forks != _forks:  # the parent's: never closed here
                _inherited.extend(conns)
                conns, self._forks = [], _forks
            self._conns.clear()
            self._local = threading.local()
        for conn in conns:
            conn.close()

    # -- the protocol ---------------------------------------------------------

    def load(self, key: str, now: int) -> Record | None:
        try:
            row = self._conn().execute(self._sql_load, (key, now)).fetchone()
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e
        if row is None:
            return None
        return Record(_decode(row[0]), row[1], row[2], row[3])

    def create(self, key: str, record: Record) -> None:
        args = (key, json.dumps(record.data), record.created, record.expires, record.user)
        try:
            self._conn().execute(self._sql_create, args)
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e

    def create_many(self, records: Iterable[tuple[str, Record]]) -> None:
        """File many new records in one transaction (imports, tests, benchmarks)."""
        rows = ((key, json.dumps(r.data), r.created, r.expires, r.user) for key, r in records)
        conn = self._conn()
        try:
            with _immediate(conn):
                conn.executemany(self._sql_create, rows)
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e

    def update(self, key: str, change: Change, now: int) -> bool:
        conn = self._conn()
        try:
            if not self.merge_in_sql:
                return self._update_in_python(conn, key, change, now)
            # One statement: SQLite holds the write lock from its read to its
            # write, so the merge is atomic across processes. A merge patch
            # (RFC 7396) sets the keys given and removes those given as null.
            if change.replace:
                data = json.dumps(dict(change.set))
            else:
                patch: dict[str, str | None] = dict.fromkeys(change.delete)
                patch.update(change.set)
                data = json.dumps(patch)
            sql = self._sql_merge[change.replace, change.user is not None]
            if change.user is None:
                args: tuple[t.Any, ...] = (data, change.expires, key, now)
            else:
                args = (data, change.expires, change.user, key, now)
            return conn.execute(sql, args).rowcount == 1
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e

    def _update_in_python(
        self, conn: sqlite3.Connection, key: str, change: Change, now: int
    ) -> bool:
        with _immediate(conn):
            row = conn.execute(self._sql_load, (key, now)).fetchone()
            if row is None:
                return False
            data, user = _applied(row, change)
            conn.execute(self._sql_write, (data, change.expires, user, key))
        return True

    def touch(self, key: str, expires: int, now: int) -> bool:
        try:
            return self._conn().execute(self._sql_touch, (expires, key, now)).rowcount == 1
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e

    def take(self, key: str, now: int) -> Record | None:
        conn = self._conn()
        try:
            with _immediate(conn):
                row = conn.execute(self._sql_load, (key, now)).fetchone()
                if row is None:
                    return None
                conn.execute(self._sql_delete, (key,))
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e
        return Record(_decode(row[0]), row[1], row[2], row[3])

    def delete(self, key: str) -> None:
        try:
            self._conn().execute(self._sql_delete, (key,))
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e

    def rename(self, old: str, new: str, change: Change, now: int) -> bool:
        """Move the live record under ``old`` to ``new`` in one transaction."""
        conn = self._conn()
        try:
            with _immediate(conn):
                row = conn.execute(self._sql_load, (old, now)).fetchone()
                if row is None:
                    return False
                data, user = _applied(row, change)
                conn.execute(self._sql_delete, (old,))
                conn.execute(self._sql_create, (new, data, row[1], change.expires, user))
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e
        return True

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        """The user's live sessions, by key, through the index on ``user_id``."""
        try:
            rows = self._conn().execute(self._sql_of_user, (user, now)).fetchall()
        except sqlite3.Error as e:
            raise _unavailable(e, self.path) from e
        return [(row[0], Record(_decode(row[1]), row[2], row[3], row[4])) for row in rows]

    def scan(self, now: int, batch: int = 1000) -> Iterator[tuple[str, Record]]:
        """Every live record by key, ``batch`` per query.

        Each batch is a query of its own, resuming after the last key seen, so
        no read transaction stays open while the caller works (that would keep
        the WAL from being checkpointed) and memory stays bounded.
        """
        after = ""
        while True:
            try:
                rows = self._conn().execute(self._sql_scan, (after, now, batch)).fetchall()
            except sqlite3.Error as e:
                raise _unavailable(e, self.path) from e
            for row in rows:
                yield row[0], Record(_decode(row[1]), row[2], row[3], row[4])
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def purge(self, now: int, batch: int = 1000) -> Iterator[int]:
        """Delete expired records, ``batch`` per statement, yielding each count.

        Each batch is one short write transaction over the expiry index, so
        requests wait at most one batch for the lock, memory stays bounded,
        and several processes may purge at once without counting a row twice.
        """
        while True:
            try:
                count = self._conn().execute(self._sql_purge, (now, batch)).rowcount
            except sqlite3.Error as e:
                raise _unavailable(e, self.path) from e
            if count:
                yield count
            if count < batch:
                return


def _has_json_patch(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT json_patch('{}', '{}')").fetchone()
    except sqlite3.OperationalError:  # built without JSON functions
        return False
    return True


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A transaction that takes the write lock before its first read.

    A deferred transaction would read, then fail to upgrade to writing if
    another process wrote meanwhile; this one waits for the lock instead.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):  # if broken, the transaction dies with it
                conn.execute("ROLLBACK")
        raise


def _applied(row: t.Sequence[t.Any], change: Change) -> tuple[str, str | None]:
    """A loaded row's ``(data, user)`` with ``change`` applied."""
    return json.dumps(change.apply(_decode(row[0]))), row[3] if change.user is None else change.user
