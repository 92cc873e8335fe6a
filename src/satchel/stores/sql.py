"""SQL store: sessions in a table of PostgreSQL, MySQL/MariaDB or another SQL database.

Built on SQLAlchemy 2 Core (no ORM) and tested for real on PostgreSQL
(``postgresql+psycopg://``) and MariaDB (``mysql+pymysql://``). Other databases
take generic statements and must honour ``SELECT ... FOR UPDATE``; SQLite, which
does not, has its own store (:mod:`satchel.stores.sqlite`).

* **Atomic merges**: :meth:`SQLStore.update` reads the live row with
  ``SELECT ... FOR UPDATE``, merges the change in Python and writes it back in
  the same transaction, so a concurrent request waits for the row and then
  merges onto the new version. ``take`` and ``rename`` lock the row the same
  way; ``rename`` deletes and inserts in one transaction.
* **Failures**: a database that cannot be reached (connection refused or lost,
  pool exhausted) raises :class:`~satchel.StoreUnavailable`, and the
  transaction is rolled back, so nothing half-written is left. Deadlocks and
  serialization failures are retried a few times first.
* **Lazy schema**: the table is created (if missing) on first use, and again
  on the next call if that failed, so an app starts while its database is down.
* **Purge** deletes expired rows in batches: ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``DELETE ... LIMIT`` on MySQL/MariaDB, keys-then-delete
  elsewhere; memory stays bounded and purgers may run at once.

Schema (``table``, created on first use)::

    key      VARCHAR(64) PRIMARY KEY  -- the 64-hex hash of the session id
    data     TEXT (MEDIUMTEXT on MySQL)  -- JSON object: session key -> value's JSON text
    created  BIGINT
    expires  BIGINT, indexed
    user_id  VARCHAR(255) (VARBINARY(1020) on MySQL), indexed; compared exactly
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import threading
import time
import typing as t
from collections.abc import Callable, Iterable, Iterator

from .._optional import optional_import
from ..exc import ConfigError, MissingDependency, StoreUnavailable

with optional_import("The SQL session store"):
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.dialects import mysql
from .base import Change, Record, Store
from .sqlite import check_table_name

if t.TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

T = t.TypeVar("T")

#: SQLSTATEs of PostgreSQL (and others) for transient conflicts: retried.
_RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
#: MySQL/MariaDB error numbers retried: deadlock; "record has changed since last
#: read" (MariaDB 11.6+ with innodb_snapshot_isolation).
_RETRY_MYSQL_ERRORS = frozenset({1213, 1020})
_MYSQL = ("mysql", "mariadb")


def _is_retryable(error: sa_exc.DBAPIError) -> bool:
    orig = error.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:  # psycopg 3
        return True
    if getattr(orig, "pgcode", None) in _RETRY_SQLSTATES:  # psycopg2
        return True
    args: tuple[t.Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRY_MYSQL_ERRORS


def _is_unavailable(error: sa_exc.DBAPIError) -> bool:
    return error.connection_invalidated or isinstance(
        error, (sa_exc.OperationalError, sa_exc.InterfaceError)
    )


def _record(row: t.Sequence[t.Any]) -> Record:
    """A Record from ``(data, created, expires, user_id)``."""
    return Record(json.loads(row[0]), row[1], row[2], row[3])


class _Utf8Bytes(sa.types.TypeDecorator[str]):
    """A str kept as its UTF-8 bytes (VARBINARY): compared byte for byte.

    Reads also accept the str of a column made by an earlier version
    (VARCHAR utf8mb4_bin); :meth:`SQLStore.sessions_of` compares exactly there.
    """

    impl = mysql.VARBINARY
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: t.Any) -> bytes | None:
        return None if value is None else value.encode("utf-8")

    def process_result_value(self, value: t.Any, dialect: t.Any) -> str | None:
        return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value


def _create_engine(url: str) -> Engine:
    try:
        with optional_import(f"SESSION_STORE={url.partition('://')[0]}://..."):
            return sa.create_engine(url)
    except MissingDependency:
        raise
    except (sa_exc.ArgumentError, ImportError) as e:  # unknown database, or driver missing
        try:
            shown = sa.make_url(url).render_as_string(hide_password=True)
        except sa_exc.ArgumentError:
            shown = url.partition("://")[0] + "://..."
        if isinstance(e, sa_exc.NoSuchModuleError):  # not a database SQLAlchemy knows
            raise ConfigError(
                f"satchel: SESSION_STORE={shown!r}: unknown URL scheme"
                + (" (PostgreSQL's is postgresql://)" if url.startswith("postgres:") else "")
                + f". Supported: {SCHEMES}."
            ) from e
        raise ConfigError(f"satchel: SESSION_STORE={shown!r} cannot be used: {e}") from e


#: What SESSION_STORE accepts, for the error an unknown scheme gets.
SCHEMES = (
    "memory://, sqlite:///path/sessions.db, redis://host:port/db (rediss://, unix://),"
    " redis+cluster://host:port, redis+sentinel://host:port,host:port/name/db, or a"
    " SQLAlchemy URL of an installed dialect such as postgresql+psycopg://user@host/db or"
    " mysql+pymysql://user@host/db"
)


class SQLStore(Store):
    """Sessions in a SQL table, through a SQLAlchemy engine.

    :param engine_or_url: an :class:`~sqlalchemy.engine.Engine`, or a URL to
        create one. A call that meets a pooled connection the database dropped
        (after a restart) is retried once on a fresh one, so no pre-ping is
        needed.
    :param table: the table to keep sessions in, created on first use.
        User ids bound to sessions may be up to 255 characters long.
    :param retries: how many times a deadlock or serialization failure is
        retried before :class:`~satchel.StoreUnavailable` is raised.
    """

    def __init__(
        self,
        engine_or_url: Engine | str,
        table: str = "satchel_sessions",
        *,
        retries: int = 4,
    ) -> None:
        self._owns_engine = isinstance(engine_or_url, str)
        if isinstance(engine_or_url, str):
            engine_or_url = _create_engine(engine_or_url)
        self.engine = engine_or_url
        # For one-statement calls: PostgreSQL (psycopg) then sends no BEGIN and
        # no COMMIT/ROLLBACK, a third of the round trips of a load. (On MySQL,
        # switching autocommit costs a round trip itself.)
        self._single = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else self.engine
        )
        self.retries = retries
        self._ready = False
        self._lock = threading.Lock()
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            raise ConfigError(
                "satchel: SQLStore cannot merge changes atomically on SQLite (no row"
                " locks); use SQLiteStore, which SESSION_STORE='sqlite:///path.db' gives."
            )

        self.table = t_ = sa.Table(
            check_table_name(table),
            sa.MetaData(),
            # Keys are lowercase hex: ASCII with binary collation on MySQL, whose
            # default collations are case-insensitive and 4 bytes a character.
            sa.Column(
                "key",
                sa.String(64).with_variant(
                    mysql.VARCHAR(64, charset="ascii", collation="ascii_bin"), *_MYSQL
                ),
                primary_key=True,
            ),
            sa.Column("data", sa.Text().with_variant(mysql.MEDIUMTEXT(), *_MYSQL), nullable=False),
            sa.Column("created", sa.BigInteger(), nullable=False),
            sa.Column("expires", sa.BigInteger(), nullable=False, index=True),
            sa.Column(
                "user_id",
                # MySQL's text collations are PAD SPACE ("bob " = "bob"): bytes
                # compare exactly (R44). 1020 bytes: 255 four-byte characters.
                sa.String(255).with_variant(_Utf8Bytes(1020), *_MYSQL),
                nullable=True,
                index=True,
            ),
            mysql_charset="utf8mb4",
            mariadb_charset="utf8mb4",
        )
        c = t_.c
        # Bound parameter names must differ from column names in UPDATE/INSERT.
        key = sa.bindparam("k", type_=sa.String())
        now = sa.bindparam("now", type_=sa.BigInteger())
        live = sa.and_(c.key == key, c.expires > now)
        # Statements built once: SQLAlchemy then finds their compiled form in its cache.
        self._load = sa.select(c.data, c.created, c.expires, c.user_id).where(live)
        self._lock_row = self._load.with_for_update()
        # create() replaces a record left under the same key (an expired one not
        # purged yet), as the other stores do: an upsert where there is one.
        self._insert: sa.Insert
        self._replace_first = False
        updated = ("data", "created", "expires", "user_id")
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(t_)
            self._insert = pg.on_conflict_do_update(
                index_elements=[c.key], set_={n: pg.excluded[n] for n in updated}
            )
        elif dialect in _MYSQL:
            my = mysql.insert(t_)
            self._insert = my.on_duplicate_key_update({n: my.inserted[n] for n in updated})
        else:  # no portable upsert: delete, then insert, in one transaction
            self._insert = sa.insert(t_)
            self._replace_first = True
            self._delete_keys = sa.delete(t_).where(c.key.in_(sa.bindparam("keys", expanding=True)))
        new_expires = sa.bindparam("exp", type_=sa.BigInteger())
        self._write = (
            sa.update(t_).where(c.key == key).values(data=sa.bindparam("d"), expires=new_expires)
        )
        self._write_user = self._write.values(user_id=sa.bindparam("u"))
        self._touch = sa.update(t_).where(live).values(expires=new_expires)
        columns = (c.key, c.data, c.created, c.expires, c.user_id)
        self._of_user = (
            sa.select(*columns)
            .where(c.user_id == sa.bindparam("u", type_=sa.String()), c.expires > now)
            .order_by(c.key)
        )
        self._scan = (
            sa.select(*columns)
            .where(c.key > sa.bindparam("after", type_=sa.String()), c.expires > now)
            .order_by(c.key)
            .limit(sa.bindparam("n", type_=sa.Integer()))
        )
        self._delete = sa.delete(t_).where(c.key == key)

        expired = c.expires <= now
        limit = sa.bindparam("n", type_=sa.Integer())
        self._purge: sa.Executable
        self._purge_keys: sa.Select[tuple[str]] | None = None
        if dialect == "postgresql":
            # Each purger takes rows nobody else has locked: they share the work
            # instead of queueing behind each other.
            victims = sa.select(c.key).where(expired).limit(limit).with_for_update(skip_locked=True)
            self._purge = sa.delete(t_).where(c.key.in_(victims.scalar_subquery()))
        elif dialect in _MYSQL:
            # MySQL has no LIMIT in IN-subqueries, but DELETE takes one itself.
            quoted = self.engine.dialect.identifier_preparer.quote(t_.name)
            self._purge = sa.text(f"DELETE FROM {quoted} WHERE expires <= :now LIMIT :n")
        else:
            self._purge_keys = sa.select(c.key).where(expired).limit(limit)
            self._purge = sa.delete(t_).where(
                c.key.in_(sa.bindparam("keys", expanding=True)), expired
            )

    @classmethod
    def from_url(cls, url: str, table: str = "satchel_sessions") -> SQLStore:
        """The store for a SQLAlchemy URL, e.g. ``postgresql+psycopg://user@host/db``."""
        return cls(url, table)

    # -- plumbing -------------------------------------------------------------

    def _ensure_table(self) -> None:
        with self._lock:
            if self._ready:
                return
            try:
                self.table.create(self.engine, checkfirst=True)
            except sa_exc.DBAPIError as e:
                # Another process may have created it between the check and ours.
                if _is_unavailable(e) or not sa.inspect(self.engine).has_table(self.table.name):
                    raise
            self._ready = True

    def _run(self, work: Callable[[], T]) -> T:
        """``work()``, with the table made, conflicts retried, failures mapped."""
        for attempt in range(self.retries + 1):
            try:
                if not self._ready:
                    self._ensure_table()
                return work()
            except sa_exc.DBAPIError as e:
                if attempt == 0 and e.connection_invalidated:
                    # A pooled connection the database dropped (it restarted):
                    # SQLAlchemy has now recycled the pool's older connections,
                    # so one retry gets a live one. This replaces a pre-ping,
                    # a round trip on every checkout (bench/stores.py).
                    continue
                if attempt < self.retries and _is_retryable(e):
                    # The transaction was rolled back; back off a little, at random,
                    # so that the two sides of a deadlock do not meet again.
                    time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
                    continue
                if _is_unavailable(e):
                    raise StoreUnavailable(
                        f"satchel: the SQL session store failed: {e.orig!r}"
                    ) from e
                raise
            except sa_exc.TimeoutError as e:  # no connection free in the pool
                raise StoreUnavailable(f"satchel: the SQL session store is busy: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def drop_table(self) -> None:
        """Drop the sessions table (tests; uninstalling)."""
        with self._lock:
            self.table.drop(self.engine, checkfirst=True)
            self._ready = False

    def close(self) -> None:
        """Close pooled connections, if this store created the engine."""
        if self._owns_engine:
            self.engine.dispose()

    # -- the protocol ---------------------------------------------------------

    def load(self, key: str, now: int) -> Record | None:
        def work() -> Record | None:
            with self._single.connect() as conn:
                row = conn.execute(self._load, {"k": key, "now": now}).first()
            return None if row is None else _record(row)

        return self._run(work)

    def create(self, key: str, record: Record) -> None:
        values = {
            "key": key,
            "data": json.dumps(record.data),
            "created": record.created,
            "expires": record.expires,
            "user_id": record.user,
        }

        def work() -> None:
            with (self.engine if self._replace_first else self._single).begin() as conn:
                self._file(conn, [values])

        self._run(work)

    def _file(self, conn: Connection, rows: list[dict[str, t.Any]]) -> None:
        if self._replace_first:
            conn.execute(self._delete_keys, {"keys": [row["key"] for row in rows]})
        conn.execute(self._insert, rows[0] if len(rows) == 1 else rows)

    def create_many(self, records: Iterable[tuple[str, Record]], chunk: int = 1000) -> None:
        """File many new records in one transaction (imports, tests, benchmarks)."""
        rows = (
            {
                "key": key,
                "data": json.dumps(r.data),
                "created": r.created,
                "expires": r.expires,
                "user_id": r.user,
            }
            for key, r in records
        )

        def work() -> None:
            with self.engine.begin() as conn:
                while batch := list(itertools.islice(rows, chunk)):
                    self._file(conn, batch)

        self._run(work)

    def _locked(self, conn: Connection, key: str, now: int) -> Record | None:
        row = conn.execute(self._lock_row, {"k": key, "now": now}).first()
        return None if row is None else _record(row)

    def _merge_statement(self, deletes: int) -> sa.TextClause | None:
        """One UPDATE that merges a change onto the row with the database's JSON
        functions, atomic on its own (PostgreSQL, MySQL, MariaDB), or None.

        Instead of BEGIN, SELECT ... FOR UPDATE, UPDATE, COMMIT: a quarter of
        the round trips of a write (``bench/stores.py``). Both databases apply
        an UPDATE to the latest committed row under its row lock, so concurrent
        changes to other keys are kept.
        """
        dialect = self.engine.dialect.name
        if dialect != "postgresql" and dialect not in _MYSQL:
            return None
        q = self.engine.dialect.identifier_preparer.quote
        table, k, data, user = q(self.table.name), q("key"), q("data"), q("user_id")
        if dialect == "postgresql":
            merged = f"(CAST({data} AS jsonb) - CAST(:del AS text[])) || CAST(:set AS jsonb)"
            value = f"CAST(CASE WHEN :replace THEN CAST(:set AS jsonb) ELSE {merged} END AS text)"
        else:
            paths = ", ".join(f":p{i}" for i in range(deletes))
            kept = f"JSON_REMOVE({data}, {paths})" if deletes else data
            value = f"CASE WHEN :replace THEN :set ELSE JSON_MERGE_PATCH({kept}, :set) END"
        return sa.text(
            f"UPDATE {table} SET {data} = {value}, expires = :exp,"
            f" {user} = COALESCE(:u, {user}) WHERE {k} = :k AND expires > :now"
        )

    def update(self, key: str, change: Change, now: int) -> bool:
        deletes = list(change.delete)
        statement = self._merge_statement(len(deletes))
        if statement is not None:
            params: dict[str, t.Any] = {
                "k": key,
                "now": now,
                "exp": change.expires,
                "u": change.user,
                "replace": change.replace,
                "set": json.dumps(dict(change.set)),
            }
            if self.engine.dialect.name == "postgresql":
                params["del"] = deletes
            else:  # MySQL paths name a member with a JSON string: $."name"
                params.update({f"p{i}": "$." + json.dumps(n) for i, n in enumerate(deletes)})

            def merge() -> bool:
                with self._single.begin() as conn:
                    return conn.execute(statement, params).rowcount == 1

            return self._run(merge)

        def work() -> bool:
            with self.engine.begin() as conn:
                record = self._locked(conn, key, now)
                if record is None:
                    return False
                data = json.dumps(change.apply(record.data))
                params = {"k": key, "d": data, "exp": change.expires, "u": change.user}
                conn.execute(self._write if change.user is None else self._write_user, params)
            return True

        return self._run(work)

    def touch(self, key: str, expires: int, now: int) -> bool:
        def work() -> bool:
            with self._single.begin() as conn:
                result = conn.execute(self._touch, {"k": key, "now": now, "exp": expires})
            return result.rowcount == 1

        return self._run(work)

    def take(self, key: str, now: int) -> Record | None:
        def work() -> Record | None:
            with self.engine.begin() as conn:
                record = self._locked(conn, key, now)
                if record is not None:
                    conn.execute(self._delete, {"k": key})
            return record

        return self._run(work)

    def delete(self, key: str) -> None:
        def work() -> None:
            with self._single.begin() as conn:
                conn.execute(self._delete, {"k": key})

        self._run(work)

    def rename(self, old: str, new: str, change: Change, now: int) -> bool:
        """Move the live record under ``old`` to ``new`` in one transaction."""

        def work() -> bool:
            with self.engine.begin() as conn:
                record = self._locked(conn, old, now)
                if record is None:
                    return False
                conn.execute(self._delete, {"k": old})
                values = {
                    "key": new,
                    "data": json.dumps(change.apply(record.data)),
                    "created": record.created,
                    "expires": change.expires,
                    "user_id": record.user if change.user is None else change.user,
                }
                self._file(conn, [values])
            return True

        return self._run(work)

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        """The user's live sessions, by key, through the index on ``user_id``."""

        def work() -> list[tuple[str, Record]]:
            with self._single.connect() as conn:
                rows = conn.execute(self._of_user, {"u": user, "now": now}).all()
            # Exact, whatever the column's collation: a table made by an earlier
            # version on MySQL matches "bob " with "bob" (PAD SPACE).
            return [(row[0], _record(row[1:])) for row in rows if row[4] == user]

        return self._run(work)

    def scan(self, now: int, batch: int = 1000) -> Iterator[tuple[str, Record]]:
        """Every live record by key, ``batch`` per query (resuming after the last
        key seen: no transaction or cursor stays open between batches)."""
        after = ""
        while True:
            rows = self._run(functools.partial(self._scan_batch, after, now, batch))
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1][0]

    def _scan_batch(self, after: str, now: int, batch: int) -> list[tuple[str, Record]]:
        with self._single.connect() as conn:
            rows = conn.execute(self._scan, {"after": after, "now": now, "n": batch}).all()
        return [(row[0], _record(row[1:])) for row in rows]

    def purge(self, now: int, batch: int = 1000) -> Iterator[int]:
        """Delete expired rows, ``batch`` per transaction, yielding each count."""
        while True:
            count, more = self._run(lambda: self._purge_batch(now, batch))
            if count:
                yield count
            if not more:
                return

    def _purge_batch(self, now: int, batch: int) -> tuple[int, bool]:
        """How many rows one batch deleted, and whether there may be more."""
        with self.engine.begin() as conn:
            if self._purge_keys is None:
                count = conn.execute(self._purge, {"now": now, "n": batch}).rowcount
                return count, count >= batch
            keys = list(conn.scalars(self._purge_keys, {"now": now, "n": batch}))
            if not keys:
                return 0, False
            count = conn.execute(self._purge, {"keys": keys, "now": now}).rowcount
            # Another purger may have deleted some of these keys first: go on
            # while full batches are found, whatever this one deleted.
            return count, len(keys) >= batch
