"""The SQL store beyond the shared suite: URLs, an unreachable server, purge, retries."""

from __future__ import annotations

import contextlib
import socket
import threading
import typing as t

import pytest
import sqlalchemy as sa

from satchel import ConfigError, Satchel
from satchel.exc import StoreUnavailable
from satchel.ids import IdSigner
from satchel.stores import Change, Record, Store, store_from_url
from satchel.stores.sql import SQLStore

from ..conftest import Clock, add_routes, cookie_of
from .conftest import MYSQL_URL, POSTGRES_URL, unavailable, unique

NOW = 1_800_000_000
SERVERS = {"postgres": POSTGRES_URL, "mysql": MYSQL_URL}
DIALECTS = {"postgres": "postgresql", "mysql": "mysql"}


def key(n: int) -> str:
    return f"{n:064x}"


def reachable(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as e:
        unavailable(url, e)
    finally:
        engine.dispose()


def closed_port_url(url: str) -> str:
    """``url`` pointing at a port of this machine where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now, and nothing will listen there
    return sa.make_url(url).set(host="127.0.0.1", port=port).render_as_string(False)


@pytest.mark.parametrize("server", SERVERS)
def test_store_from_url_makes_a_working_sql_store(server: str) -> None:
    url = SERVERS[server]
    reachable(url)
    store = store_from_url(url)
    assert isinstance(store, SQLStore)
    assert store.engine.dialect.name in (DIALECTS[server], "mariadb")
    assert store.table.name == "satchel_sessions"
    existed = sa.inspect(store.engine).has_table("satchel_sessions")
    k = unique("from-url-").ljust(64, "0")
    try:
        store.create(k, Record({"user": '"stzz"'}, created=NOW, expires=NOW + 60, user="7"))
        assert store.load(k, NOW) == Record({"user": '"stzz"'}, NOW, NOW + 60, "7")
    finally:
        store.delete(k)
        if not existed:
            store.drop_table()
        store.close()


@pytest.mark.parametrize(
    "url", ["nosuchdatabase://h/db", "postgresql+nosuchdriver://u:hunter2@h/db", "not a url"]
)
def test_a_url_no_database_answers_is_a_config_error_at_start_up(url: str, clock: Clock) -> None:
    from flask import Flask

    app = Flask("app")
    app.config.update(SECRET_KEY="store-test-secret-0123456789abcdef", SESSION_STORE=url)
    with pytest.raises(ConfigError, match="SESSION_STORE") as info:
        Satchel(app, clock=clock)
    assert "hunter2" not in str(info.value)  # no password in logs


def test_sqlite_engines_are_sent_to_the_sqlite_store() -> None:
    engine = sa.create_engine("sqlite://")
    with pytest.raises(ConfigError, match="use SQLiteStore"):
        SQLStore(engine)  # it would lose concurrent updates: SQLite has no row locks
    engine.dispose()


@pytest.mark.parametrize("server", SERVERS)
def test_unreachable_server_raises_store_unavailable(server: str) -> None:
    store = SQLStore(closed_port_url(SERVERS[server]))  # construction does not connect
    calls: list[t.Callable[[], object]] = [
        lambda: store.load(key(1), NOW),
        lambda: store.create(key(1), Record({}, NOW, NOW + 60)),
        lambda: store.update(key(1), Change(set={"a": "1"}, expires=NOW + 60), NOW),
        lambda: store.touch(key(1), NOW + 60, NOW),
        lambda: store.take(key(1), NOW),
        lambda: store.delete(key(1)),
        lambda: store.rename(key(1), key(2), Change(expires=NOW + 60), NOW),
        lambda: list(store.purge(NOW)),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable, match="SQL session store"):
            call()
    store.close()


def make_app(store: Store | str, clock: Clock) -> t.Any:
    from flask import Flask

    app = Flask("sql_app")
    app.config.update(SECRET_KEY="sql-store-secret-0123456789abcdef", SESSION_STORE=store)
    Satchel(app, clock=clock)
    return add_routes(app)


@pytest.mark.parametrize("server", SERVERS)
def test_app_answers_503_only_where_the_session_is_used(server: str, clock: Clock) -> None:
    app = make_app(closed_port_url(SERVERS[server]), clock)  # the app starts anyway
    client = app.test_client(use_cookies=False)
    assert client.get("/none").status_code == 200
    assert client.get("/get/user").text == "None"  # no cookie: nothing to look up
    response = client.get("/set/user/stzz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert cookie_of(response) is None
    # A browser with a session: the store must be read to open it.
    signed = IdSigner([app.config["SECRET_KEY"]]).sign("A" * 43)
    headers = {"Cookie": f"session={signed}"}
    assert client.get("/none", headers=headers).status_code == 200
    for path in ("/get/user", "/set/user/x", "/clear"):
        response = client.get(path, headers=headers)
        assert response.status_code == 503, path
        assert cookie_of(response) is None, path


class Proxy:
    """A TCP relay to a database server that can be cut and restored, as an outage."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread in accept()
            self.listener.close()
            self.listener = None
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()


@pytest.mark.parametrize("server", SERVERS)
def test_sessions_come_back_with_the_server_without_a_restart(server: str, clock: Clock) -> None:
    url = sa.make_url(SERVERS[server])
    reachable(SERVERS[server])
    proxy = Proxy((url.host or "127.0.0.1", url.port or (5432 if server == "postgres" else 3306)))
    proxy_url = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    store = SQLStore(proxy_url, table=unique("satchel_test_"))
    app = make_app(store, clock)
    client = app.test_client()
    try:
        assert client.get("/set/user/stzz").status_code == 503  # down since start-up
        proxy.start()
        assert client.get("/set/user/stzz").status_code == 200
        assert client.get("/get/user").text == "'stzz'"
        proxy.stop()  # the pooled connections die with the outage
        assert client.get("/get/user").status_code == 503
        assert client.get("/set/cart/x").status_code == 503
        proxy.start()
        assert client.get("/get/user").text == "'stzz'"  # same session, nothing lost
        assert client.get("/set/cart/y").status_code == 200
        assert client.get("/dump").text == repr([("cart", "y"), ("user", "stzz")])
    finally:
        proxy.stop()
        store.close()
        direct = SQLStore(SERVERS[server], table=store.table.name)
        direct.drop_table()
        direct.close()


@pytest.mark.parametrize("server", SERVERS)
def test_two_purgers_share_thousands_of_expired_rows(
    server: str, store_factory: t.Callable[[str], Store]
) -> None:
    store = store_factory(server)
    assert isinstance(store, SQLStore)
    expired, live = 4000, 100
    store.load(key(0), NOW)  # creates the table
    rows = [
        {"key": key(n), "data": "{}", "created": NOW - 100, "expires": NOW - 1, "user_id": None}
        for n in range(expired)
    ] + [
        {"key": key(n), "data": "{}", "created": NOW, "expires": NOW + 600, "user_id": None}
        for n in range(expired, expired + live)
    ]
    with store.engine.begin() as conn:
        conn.execute(sa.insert(store.table), rows)

    counts: list[list[int]] = [[], []]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def purge(i: int) -> None:
        try:
            barrier.wait()
            counts[i].extend(store.purge(NOW, batch=250))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=purge, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sum(counts[0]) + sum(counts[1]) == expired
    assert max(counts[0] + counts[1]) <= 250
    with store.engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(store.table)).scalar()
    assert left == live


def test_conflicts_under_repeatable_read_are_retried(
    store_factory: t.Callable[[str], Store],
) -> None:
    """On an engine set to REPEATABLE READ, PostgreSQL refuses concurrent updates of
    one row with serialization failures; the store retries them and loses nothing."""
    base = store_factory("postgres")
    assert isinstance(base, SQLStore)
    engine = base.engine.execution_options(isolation_level="REPEATABLE READ")
    store = SQLStore(engine, table=base.table.name, retries=20)
    store.create(key(1), Record({}, NOW, NOW + 600))
    workers, rounds = 4, 5
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(rounds):
                assert store.update(key(1), Change(set={f"{i}-{j}": "1"}, expires=NOW + 600), NOW)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    loaded = store.load(key(1), NOW)
    assert loaded is not None and len(loaded.data) == workers * rounds


@pytest.mark.parametrize("server", SERVERS)
def test_bulk_create_scan_and_a_users_sessions(
    server: str, store_factory: t.Callable[[str], Store]
) -> None:
    store = store_factory(server)
    assert isinstance(store, SQLStore)
    records = (
        (
            key(n),
            Record(
                {"n": str(n)},
                created=NOW - 10,
                expires=NOW - 1 if n % 4 == 0 else NOW + 600,
                user=f"u{n % 3}" if n % 2 else None,
            ),
        )
        for n in range(1200)
    )
    store.create_many(records, chunk=500)
    live = {key(n) for n in range(1200) if n % 4}
    seen = []
    for k, rec in store.scan(NOW, batch=100):
        seen.append(k)
        assert rec.data == {"n": str(int(k, 16))}
        store.delete(k)  # the CLI may revoke while it lists: the scan goes on
    assert seen == sorted(live)

    store.create_many((key(n), Record({}, NOW, NOW + 600, "Alice")) for n in range(3))
    store.create(key(9), Record({}, NOW, NOW - 1, "Alice"))  # expired
    store.create(key(10), Record({}, NOW, NOW + 600, "alice"))  # another user, on MySQL too
    assert [k for k, _ in store.sessions_of("Alice", NOW)] == [key(n) for n in range(3)]
    assert store.sessions_of("bob", NOW) == []


def test_a_table_made_by_the_previous_version_compares_user_ids_exactly() -> None:
    """A MySQL table created before user_id became VARBINARY keeps its PAD SPACE
    collation ("bob " = "bob" in SQL): the store still tells them apart."""
    reachable(MYSQL_URL)
    engine = sa.create_engine(MYSQL_URL)
    table = unique("satchel_old_")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} (`key` VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin"
                " PRIMARY KEY, data MEDIUMTEXT NOT NULL, created BIGINT NOT NULL,"
                " expires BIGINT NOT NULL, user_id VARCHAR(255) CHARACTER SET utf8mb4"
                " COLLATE utf8mb4_bin NULL, INDEX (expires), INDEX (user_id))"
                " DEFAULT CHARSET=utf8mb4"
            )
        )
    store = SQLStore(engine, table=table)
    try:
        store.create(key(1), Record({"a": "1"}, NOW, NOW + 600, "bob"))
        store.create(key(2), Record({"a": "2"}, NOW, NOW + 600, "bob "))
        assert [k for k, _ in store.sessions_of("bob", NOW)] == [key(1)]
        assert [k for k, _ in store.sessions_of("bob ", NOW)] == [key(2)]
        assert store.load(key(2), NOW) == Record({"a": "2"}, NOW, NOW + 600, "bob ")
    finally:
        store.drop_table()
        engine.dispose()


def test_new_mysql_tables_keep_user_ids_as_bytes() -> None:
    reachable(MYSQL_URL)
    engine = sa.create_engine(MYSQL_URL)
    store = SQLStore(engine, table=unique("satchel_bin_"))
    try:
        store.create(key(1), Record({}, NOW, NOW + 600, "bob"))
        with engine.connect() as conn:
            found = conn.execute(
                sa.text(f"SELECT COUNT(*) FROM {store.table.name} WHERE user_id = 'bob '")
            ).scalar()
        assert found == 0  # the index itself is exact, not only the Python filter
    finally:
        store.drop_table()
        engine.dispose()
