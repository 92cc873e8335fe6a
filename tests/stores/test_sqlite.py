"""The SQLite store beyond the shared suite: processes, files, URLs, locks."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
import typing as t
from pathlib import Path

import pytest

from satchel import ConfigError, Satchel
from satchel.exc import StoreUnavailable
from satchel.stores import Change, Record, store_from_url
from satchel.stores.sqlite import SQLiteStore

from ..conftest import Clock, add_routes, cookie_of

NOW = 1_800_000_000
KEY = "ab" * 32
PROCESSES = 4
ROUNDS = 40

METHODS = ["spawn", "fork"] if "fork" in multiprocessing.get_all_start_methods() else ["spawn"]


def record(data: dict[str, str] | None = None) -> Record:
    return Record(data=data or {}, created=NOW, expires=NOW + 600)


def _worker(store_or_path: SQLiteStore | str, n: int, start: t.Any) -> None:
    """Set keys p<n>-<j> of the session KEY, one update each (in a child process)."""
    store = store_or_path if isinstance(store_or_path, SQLiteStore) else SQLiteStore(store_or_path)
    start.wait(timeout=30)
    for j in range(ROUNDS):
        if not store.update(KEY, Change(set={f"p{n}-{j}": str(j)}, expires=NOW + 600), NOW):
            raise SystemExit(3)
    store.close()


@pytest.mark.parametrize("method", METHODS)
def test_processes_updating_different_keys_all_survive(tmp_path: Path, method: str) -> None:
    path = str(tmp_path / "sessions.db")
    store = SQLiteStore(path)
    store.create(KEY, record({"user": '"stzz"'}))  # the parent has a connection open
    ctx = multiprocessing.get_context(method)
    start = ctx.Barrier(PROCESSES)
    # Forked children inherit the store and its open connection; spawned ones open the file.
    arg: SQLiteStore | str = store if method == "fork" else path
    procs = [ctx.Process(target=_worker, args=(arg, n, start)) for n in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    expected = {f"p{n}-{j}" for n in range(PROCESSES) for j in range(ROUNDS)} | {"user"}
    loaded = store.load(KEY, NOW)
    assert loaded is not None and set(loaded.data) == expected
    # The parent's own connection still works after its children are gone.
    assert store.update(KEY, Change(set={"after": "1"}, expires=NOW + 600), NOW)
    store.close()
    reopened = SQLiteStore(path).load(KEY, NOW)
    assert reopened is not None and set(reopened.data) == expected | {"after"}


def _first_use_worker(path: str, n: int, start: t.Any) -> None:
    store = SQLiteStore(path)
    start.wait(timeout=30)
    for j in range(20):
        store.create(f"{n:04x}{j:060x}", record({"a": "1"}))


@pytest.mark.skipif("fork" not in METHODS, reason="needs fork to start processes quickly")
def test_workers_starting_together_on_a_new_file_all_work(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for trial in range(8):  # the first uses race to set the file up
        path = str(tmp_path / f"new-{trial}.db")
        start = ctx.Barrier(PROCESSES)
        procs = [
            ctx.Process(target=_first_use_worker, args=(path, n, start)) for n in range(PROCESSES)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0] * PROCESSES, f"trial {trial}"
        store = SQLiteStore(path)
        assert all(
            store.load(f"{n:04x}{j:060x}", NOW) is not None
            for n in range(PROCESSES)
            for j in range(20)
        )
        store.close()


@pytest.mark.parametrize("merge_in_sql", [True, False])
def test_values_survive_merges_byte_for_byte(tmp_path: Path, merge_in_sql: bool) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"keep": '"x"', "gone": "1"}))
    store.merge_in_sql = merge_in_sql  # also the path taken without SQLite's JSON functions
    tricky = {
        "quotes": '"say \\"hi\\""',
        "unicode": '"王天祥 ☃ \\u2028"',
        "escaped": '"\\u00e9\\ud83d\\ude00\\n\\t\\\\"',
        "nul": '"a\\u0000b"',
        "nested": '{" t":{"a":[1,2.5,null,true]}}',
        "": "0",
    }
    assert store.update(KEY, Change(set=tricky, delete=["gone"], expires=NOW + 700), NOW)
    loaded = store.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"keep": '"x"', **tricky}
    assert store.update(KEY, Change(set={"only": "1"}, replace=True, expires=NOW + 700), NOW)
    loaded = store.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"only": "1"}


def test_merge_without_json_functions_is_atomic(tmp_path: Path) -> None:
    import threading

    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record())
    store.merge_in_sql = False
    barrier = threading.Barrier(6)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(10):
            assert store.update(KEY, Change(set={f"{i}-{j}": "1"}, expires=NOW + 600), NOW)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    loaded = store.load(KEY, NOW)
    assert loaded is not None and len(loaded.data) == 60


def test_data_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteStore(path)
    store.create(KEY, Record({"user": '"stzz"'}, created=NOW, expires=NOW + 600, user="42"))
    store.close()
    again = SQLiteStore(path).load(KEY, NOW)
    assert again == Record({"user": '"stzz"'}, created=NOW, expires=NOW + 600, user="42")


def test_sqlite_url_relative_and_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = store_from_url("sqlite:///relative.db")
    assert isinstance(relative, SQLiteStore)
    relative.create(KEY, record({"a": "1"}))
    assert (tmp_path / "relative.db").is_file()

    absolute = store_from_url(f"sqlite:///{tmp_path / 'relative.db'}")  # sqlite:////tmp/...
    assert isinstance(absolute, SQLiteStore)
    loaded = absolute.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"a": "1"}
    relative.close()
    absolute.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=ro"])
def test_urls_that_are_no_file_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"SQLite|file path"):
        store_from_url(url)


def test_missing_directory_is_a_clear_error_at_start_up(tmp_path: Path, clock: Clock) -> None:
    missing = tmp_path / "no-such-dir" / "sessions.db"
    with pytest.raises(ConfigError, match=r"the directory .*no-such-dir.* does not exist"):
        SQLiteStore(missing)
    from flask import Flask

    app = Flask("app")
    app.config.update(
        SECRET_KEY="store-test-secret-0123456789abcdef", SESSION_STORE=f"sqlite:///{missing}"
    )
    with pytest.raises(ConfigError, match="does not exist"):
        Satchel(app, clock=clock)  # fails at start-up, not on the first request
    assert not missing.parent.exists()


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, timeout=0.2)
    store.create(KEY, record({"a": "1"}))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    other.execute("DELETE FROM satchel_sessions")
    started = time.monotonic()
    loaded = store.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"a": "1"}  # WAL: the last committed state
    assert time.monotonic() - started < 0.1
    other.execute("ROLLBACK")
    other.close()


def test_a_locked_file_means_unavailable_and_nothing_written(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path, timeout=0.2)
    store.create(KEY, record({"a": "1"}))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock past the store's timeout
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="locked"):
        store.update(KEY, Change(set={"a": "2"}, expires=NOW + 600), NOW)
    assert time.monotonic() - started >= 0.2  # it waited for the lock first
    with pytest.raises(StoreUnavailable):
        store.rename(KEY, "cd" * 32, Change(expires=NOW + 600), NOW)
    other.execute("ROLLBACK")
    loaded = store.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"a": "1"}
    assert store.update(KEY, Change(set={"a": "2"}, expires=NOW + 600), NOW)  # works again
    other.close()


def test_a_store_that_cannot_open_its_file_answers_503(tmp_path: Path, clock: Clock) -> None:
    from flask import Flask

    directory = tmp_path / "gone"
    directory.mkdir()
    store = SQLiteStore(directory / "s.db")
    directory.rmdir()  # e.g. a volume unmounted after start-up
    app = Flask("app")
    app.config.update(SECRET_KEY="store-test-secret-0123456789abcdef", SESSION_STORE=store)
    Satchel(app, clock=clock)
    add_routes(app)
    client = app.test_client()
    assert client.get("/none").status_code == 200
    response = client.get("/set/user/stzz")
    assert response.status_code == 503 and cookie_of(response) is None
    directory.mkdir()  # back: the next request works without a restart
    assert client.get("/set/user/stzz").status_code == 200
    assert client.get("/get/user").text == "'stzz'"


def test_purge_is_batched_and_leaves_live_records(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    for n in range(2500):
        expires = NOW - 1 if n % 10 else NOW + 600
        store.create(f"{n:064x}", Record({}, created=NOW - 100, expires=expires))
    counts = list(store.purge(NOW, batch=300))
    assert sum(counts) == 2250 and max(counts) == 300
    assert store.load(f"{10:064x}", NOW) is not None
    assert list(store.purge(NOW, batch=300)) == []


def test_bulk_create_scan_and_a_users_sessions(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    records = (
        (
            f"{n:064x}",
            Record(
                {"n": str(n)},
                created=NOW - 10,
                expires=NOW - 1 if n % 4 == 0 else NOW + 600,
                user=f"u{n % 3}" if n % 2 else None,
            ),
        )
        for n in range(2500)
    )
    store.create_many(records)  # a generator: nothing is held in memory at once
    live = {f"{n:064x}" for n in range(2500) if n % 4}
    seen = []
    for key, rec in store.scan(NOW, batch=100):
        seen.append(key)
        assert rec.data == {"n": str(int(key, 16))}
        store.delete(key)  # the CLI may revoke while it lists: the scan goes on
    assert seen == sorted(live)
    assert store.load(f"{1:064x}", NOW) is None

    store.create_many((f"{n:064x}", Record({}, NOW, NOW + 600, "alice")) for n in range(3))
    store.create(f"{9:064x}", Record({}, NOW, NOW - 1, "alice"))  # expired
    assert [k for k, _ in store.sessions_of("alice", NOW)] == [f"{n:064x}" for n in range(3)]
    assert store.sessions_of("bob", NOW) == []


# -- promises a mutation run found unpinned -------------------------------------------------


@pytest.mark.parametrize(
    "table",
    ["sessions; DROP TABLE x", "ok name", 'a"b', "1abc", "a" * 64, "sessions\n", "", "a-b"],
)
def test_a_table_name_that_is_no_plain_identifier_is_refused(tmp_path: Path, table: str) -> None:
    with pytest.raises(ConfigError, match="table name"):
        SQLiteStore(tmp_path / "s.db", table)


@pytest.mark.parametrize("table", ["_x", "a" * 63, "Sessions_2"])
def test_plain_identifiers_are_accepted(tmp_path: Path, table: str) -> None:
    store = SQLiteStore(tmp_path / "s.db", table)
    store.create(KEY, record({"a": "1"}))
    assert store.load(KEY, NOW) is not None
    store.close()


def test_the_file_is_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", mmap_size=4096)
    store.create(KEY, record())
    other = sqlite3.connect(tmp_path / "s.db")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # kept by the file
    other.close()
    conn = store._conn()
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA mmap_size").fetchone()[0] == 4096
    assert conn.in_transaction is False  # autocommit: nothing held between calls
    store.close()


def _child_after_fork(store: SQLiteStore, parent_conn_id: int, answer: t.Any) -> None:
    conn = store._conn()
    store.create("cd" * 32, record({"child": "1"}))
    answer.put((id(conn) != parent_conn_id, store.load(KEY, NOW) is not None))
    store.close()


@pytest.mark.skipif("fork" not in METHODS, reason="needs fork")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"a": "1"}))
    parent_conn = store._conn()
    context = multiprocessing.get_context("fork")
    answer = context.Queue()
    child = context.Process(target=_child_after_fork, args=(store, id(parent_conn), answer))
    child.start()
    own_connection, read = answer.get(timeout=30)
    child.join(timeout=30)
    assert child.exitcode == 0
    assert own_connection and read
    assert store._conn() is parent_conn  # the parent's is untouched
    loaded = store.load("cd" * 32, NOW)
    assert loaded is not None and loaded.data == {"child": "1"}
    store.close()


def test_close_closes_every_connection_and_the_store_reopens(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"a": "1"}))
    conns = [store._conn()]
    th = threading.Thread(target=lambda: conns.append(store._conn()))
    th.start()
    th.join()
    assert conns[0] is not conns[1]  # one per thread
    store.close()
    for conn in conns:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
    loaded = store.load(KEY, NOW)  # used again: reopened
    assert loaded is not None and loaded.data == {"a": "1"}
    store.close()


def test_a_finished_threads_connection_is_closed_when_another_opens(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record())
    conns: list[sqlite3.Connection] = []
    th = threading.Thread(target=lambda: conns.append(store._conn()))
    th.start()
    th.join()
    th = threading.Thread(target=lambda: conns.append(store._conn()))
    th.start()
    th.join()
    with pytest.raises(sqlite3.ProgrammingError):
        conns[0].execute("SELECT 1")
    conns[1].execute("SELECT 1")
    store.close()


OTHER = "cd" * 32


@pytest.mark.parametrize("merge_in_sql", [True, False])
def test_every_operation_on_a_broken_database_is_store_unavailable(
    tmp_path: Path, merge_in_sql: bool
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"a": "1"}))
    store.merge_in_sql = merge_in_sql
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute('DROP TABLE "satchel_sessions"')  # e.g. a bad migration
    other.close()
    change = Change(set={"a": "2"}, expires=NOW + 600)
    operations: list[t.Callable[[], t.Any]] = [
        lambda: store.load(KEY, NOW),
        lambda: store.create(OTHER, record()),
        lambda: store.create_many([(OTHER, record())]),
        lambda: store.update(KEY, change, NOW),
        lambda: store.touch(KEY, NOW + 600, NOW),
        lambda: store.take(KEY, NOW),
        lambda: store.delete(KEY),
        lambda: store.rename(KEY, OTHER, change, NOW),
        lambda: store.sessions_of("u", NOW),
        lambda: list(store.scan(NOW)),
        lambda: list(store.purge(NOW)),
    ]
    for operation in operations:
        with pytest.raises(StoreUnavailable, match="no such table"):
            operation()
    store.close()


def test_a_database_file_that_is_not_sqlite_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable, match="satchel: the SQLite session store"):
        store.load(KEY, NOW)


def test_the_connect_failure_is_store_unavailable_then_recovers(tmp_path: Path) -> None:
    directory = tmp_path / "gone"
    directory.mkdir()
    store = SQLiteStore(directory / "s.db")
    directory.rmdir()
    for operation in (
        lambda: store.load(KEY, NOW),
        lambda: store.create_many([(KEY, record())]),
        lambda: list(store.purge(NOW)),
    ):
        with pytest.raises(StoreUnavailable):
            operation()
    directory.mkdir()
    store.create_many([(KEY, record({"a": "1"})), (OTHER, record({"b": "2"}))])
    assert [k for k, _ in store.scan(NOW)] == [KEY, OTHER]
    store.close()


def test_a_locked_file_makes_create_many_and_purge_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", timeout=0.1)
    store.create(KEY, Record(data={}, created=NOW, expires=NOW - 1))
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked"):
        store.create_many([(OTHER, record())])
    with pytest.raises(StoreUnavailable, match="locked"):
        list(store.purge(NOW))
    other.execute("ROLLBACK")
    other.close()
    assert list(store.purge(NOW)) == [1]
    assert store.load(OTHER, NOW) is None  # the failed bulk create left nothing
    store.close()


def test_purge_stops_after_a_short_batch(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create_many((f"{n:064x}", Record({}, NOW, NOW - 1)) for n in range(7))
    assert list(store.purge(NOW, batch=3)) == [3, 3, 1]
    assert list(store.purge(NOW, batch=3)) == []
    store.create_many((f"{n:064x}", Record({}, NOW, NOW - 1)) for n in range(6))
    assert list(store.purge(NOW, batch=3)) == [3, 3]
    store.close()


def test_sqlite_url_scheme_is_case_insensitive(tmp_path: Path) -> None:
    store = SQLiteStore.from_url(f"SQLite:///{tmp_path}/s.db", table="t1")
    assert store.path == f"{tmp_path}/s.db" and store.table == "t1"


def test_a_corrupt_data_column_is_an_error_not_a_session(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"a": "1"}))
    for bad in ("[1]", '{"a": "1"} trailing', "not json"):
        store._conn().execute('UPDATE "satchel_sessions" SET data = ?', (bad,))
        with pytest.raises(ValueError, match="not a JSON object"):
            store.load(KEY, NOW)
    store.close()


def test_unavailable_names_the_file_and_the_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record())
    other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    other.execute('DROP TABLE "satchel_sessions"')
    other.close()
    with pytest.raises(StoreUnavailable) as raised:
        store.load(KEY, NOW)
    assert str(tmp_path / "s.db") in str(raised.value) and "no such table" in str(raised.value)
    store.close()


def test_the_python_merge_never_creates_a_record(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.create(KEY, record({"a": "1"}))
    store.merge_in_sql = False
    assert store.update("cd" * 32, Change(set={"x": "1"}, expires=NOW + 600), NOW) is False
    assert store.load("cd" * 32, NOW) is None
    assert store.update(KEY, Change(set={"b": "2"}, user="u", expires=NOW + 9), NOW)
    loaded = store.load(KEY, NOW)
    assert loaded is not None and loaded.data == {"a": "1", "b": "2"} and loaded.user == "u"
    store.close()
