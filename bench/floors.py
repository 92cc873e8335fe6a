"""Floors: the least work each session path cannot avoid, as yardsticks (issue #12).

Each floor is a Flask session interface written by hand for the benchmark's
payload (``{"user": "stzz", "n": <int>}``) that does only what its path must:

* **signed**: split the raw Cookie header, one HMAC-SHA1 with a precomputed
  key (compared in constant time), one JSON parse; a write dumps JSON, one
  HMAC, and adds the Set-Cookie and Vary headers as text.
* **encrypted**: the same with one AES-256-GCM open/seal under a precomputed
  key instead of the HMAC.
* **memory**: the cookie carries an HMAC-signed id; one dict lookup; a write
  replaces the changed key's JSON text in place.
* **sqlite**: one ``SELECT`` (WAL, autocommit); a write adds one
  ``json_patch`` ``UPDATE`` that cannot create a row.
* **redis**: one ``HGETALL``; a write adds one ``EVALSHA`` that sets the key
  only if the session still exists (no resurrection).
* **postgres** / **mysql**: one prepared ``SELECT``; a write adds one
  autocommit ``UPDATE`` that merges the key (no BEGIN/COMMIT, no pool).

What they skip, that satchel must do: Flask's cookie format's timestamp and
max-age check, key rotation and fallbacks, tagged JSON (non-JSON types),
expiry checks and lazy refresh, absolute lifetimes, fixation defences (a new
id when a session starts or gains a user), the per-user index, revocation,
device records, signals, nested-mutation tracking, duplicate cookies,
oversize checks, and every error path (a store that is down, a tampered
cookie is just anonymous). They are measured beside satchel in
``bench/run.py`` (``floor-*`` set-ups); the README compares each satchel path
to its floor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import typing as t

from flask import Flask
from flask.sessions import SessionInterface, SessionMixin

ID_BYTES = 32


class FloorSession(dict[str, t.Any], SessionMixin):
    """The least a Flask session object must do: know whether it changed."""

    modified = False
    sid: str | None = None

    def __setitem__(self, key: str, value: t.Any) -> None:
        self.modified = True
        super().__setitem__(key, value)


def _cookie(environ: dict[str, t.Any], name: str) -> str | None:
    header = environ.get("HTTP_COOKIE")
    if not header:
        return None
    prefix = name + "="
    for part in header.split(";"):
        part = part.strip()
        if part.startswith(prefix):
            return part[len(prefix) :]
    return None


def _set_cookie(response: t.Any, name: str, value: str) -> None:
    response.headers.add("Set-Cookie", f"{name}={value}; HttpOnly; Path=/")


def _vary(response: t.Any) -> None:
    response.headers.add("Vary", "Cookie")


class _Floor(SessionInterface):
    name = "session"

    def __init__(self, secret: str) -> None:
        self.key = hashlib.sha256(secret.encode()).digest()

    def sign(self, payload: bytes) -> str:
        mac = hmac.new(self.key, payload, hashlib.sha1).digest()
        return (base64.urlsafe_b64encode(payload + mac)).decode().rstrip("=")

    def verify(self, value: str) -> bytes | None:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        payload, mac = raw[:-20], raw[-20:]
        good = hmac.new(self.key, payload, hashlib.sha1).digest()
        return payload if hmac.compare_digest(mac, good) else None


class SignedFloor(_Floor):
    def open_session(self, app: Flask, request: t.Any) -> FloorSession:
        value = _cookie(request.environ, self.name)
        session = FloorSession()
        if value:
            payload = self.verify(value)
            if payload is not None:
                session.update(json.loads(payload))
        return session

    def save_session(self, app: Flask, session: t.Any, response: t.Any) -> None:
        _vary(response)
        if session.modified:
            _set_cookie(response, self.name, self.sign(json.dumps(session).encode()))


class EncryptedFloor(_Floor):
    def __init__(self, secret: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        super().__init__(secret)
        self.aead = AESGCM(self.key)

    def open_session(self, app: Flask, request: t.Any) -> FloorSession:
        value = _cookie(request.environ, self.name)
        session = FloorSession()
        if value:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            session.update(json.loads(self.aead.decrypt(raw[:12], raw[12:], None)))
        return session

    def save_session(self, app: Flask, session: t.Any, response: t.Any) -> None:
        _vary(response)
        if session.modified:
            nonce = secrets.token_bytes(12)
            sealed = nonce + self.aead.encrypt(nonce, json.dumps(session).encode(), None)
            _set_cookie(response, self.name, base64.urlsafe_b64encode(sealed).decode().rstrip("="))


class _ServerFloor(_Floor):
    """The cookie carries an HMAC-signed id; subclasses keep ``id -> {key: json}``."""

    def load(self, sid: str) -> dict[str, str] | None:
        raise NotImplementedError

    def insert(self, sid: str, data: dict[str, str]) -> None:
        raise NotImplementedError

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        raise NotImplementedError

    def open_session(self, app: Flask, request: t.Any) -> FloorSession:
        value = _cookie(request.environ, self.name)
        session = FloorSession()
        if value:
            raw = self.verify(value)
            if raw is not None:
                sid = raw.hex()
                data = self.load(sid)
                if data is not None:
                    session.sid = sid
                    session.update({k: json.loads(v) for k, v in data.items()})
        return session

    def save_session(self, app: Flask, session: t.Any, response: t.Any) -> None:
        _vary(response)
        if not session.modified:
            return
        texts = {k: json.dumps(v) for k, v in session.items()}
        if session.sid is None:
            raw = secrets.token_bytes(ID_BYTES)
            self.insert(raw.hex(), texts)
            _set_cookie(response, self.name, self.sign(raw))
        else:
            # The benchmark's write changes one key: the floor sends just that one.
            self.merge(session.sid, {"n": texts["n"]})


class MemoryFloor(_ServerFloor):
    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.data: dict[str, dict[str, str]] = {}

    def load(self, sid: str) -> dict[str, str] | None:
        return self.data.get(sid)

    def insert(self, sid: str, data: dict[str, str]) -> None:
        self.data[sid] = data

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        record = self.data.get(sid)
        if record is not None:
            record.update(changed)


class SQLiteFloor(_ServerFloor):
    def __init__(self, secret: str, path: str) -> None:
        import sqlite3

        super().__init__(secret)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # as satchel's store: durable in WAL
        self.db.execute("CREATE TABLE IF NOT EXISTS floor (id TEXT PRIMARY KEY, data TEXT)")

    def load(self, sid: str) -> dict[str, str] | None:
        row = self.db.execute("SELECT data FROM floor WHERE id = ?", (sid,)).fetchone()
        return None if row is None else t.cast("dict[str, str]", json.loads(row[0]))

    def insert(self, sid: str, data: dict[str, str]) -> None:
        self.db.execute("INSERT INTO floor VALUES (?, ?)", (sid, json.dumps(data)))

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        self.db.execute(
            "UPDATE floor SET data = json_patch(data, ?) WHERE id = ?", (json.dumps(changed), sid)
        )


#: Sets the fields only if the session still exists: a write never resurrects.
_REDIS_MERGE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return 1
end
return 0
"""


class RedisFloor(_ServerFloor):
    def __init__(self, secret: str, client: t.Any, prefix: str) -> None:
        super().__init__(secret)
        self.client, self.prefix = client, prefix
        self.script = client.register_script(_REDIS_MERGE)

    def load(self, sid: str) -> dict[str, str] | None:
        raw = self.client.hgetall(self.prefix + sid)
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    def insert(self, sid: str, data: dict[str, str]) -> None:
        self.client.hset(self.prefix + sid, mapping=data)

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        args = [x for pair in changed.items() for x in pair]
        self.script(keys=[self.prefix + sid], args=args)


class PostgresFloor(_ServerFloor):
    """psycopg 3 on one autocommit connection, prepared statements."""

    def __init__(self, secret: str, dsn: str, table: str) -> None:
        import psycopg

        super().__init__(secret)
        self.conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=0)
        self.table = table
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, data JSONB)")

    def load(self, sid: str) -> dict[str, str] | None:
        row = self.conn.execute(f"SELECT data FROM {self.table} WHERE id = %s", (sid,)).fetchone()
        return None if row is None else t.cast("dict[str, str]", row[0])

    def insert(self, sid: str, data: dict[str, str]) -> None:
        self.conn.execute(f"INSERT INTO {self.table} VALUES (%s, %s)", (sid, json.dumps(data)))

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        self.conn.execute(
            f"UPDATE {self.table} SET data = data || %s::jsonb WHERE id = %s",
            (json.dumps(changed), sid),
        )

    def drop(self) -> None:
        self.conn.execute(f"DROP TABLE IF EXISTS {self.table}")


class MySQLFloor(_ServerFloor):
    """PyMySQL on one autocommit connection (it has no server-side prepare)."""

    def __init__(self, secret: str, url: t.Any, table: str) -> None:
        import pymysql

        super().__init__(secret)
        self.conn = pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            database=url.database,
            autocommit=True,
        )
        self.table = table
        with self.conn.cursor() as cur:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {table} (id CHAR(64) PRIMARY KEY, data JSON)")

    def load(self, sid: str) -> dict[str, str] | None:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT data FROM {self.table} WHERE id = %s", (sid,))
            row = cur.fetchone()
        return None if row is None else t.cast("dict[str, str]", json.loads(row[0]))

    def insert(self, sid: str, data: dict[str, str]) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"INSERT INTO {self.table} VALUES (%s, %s)", (sid, json.dumps(data)))

    def merge(self, sid: str, changed: dict[str, str]) -> None:
        with self.conn.cursor() as cur:
            cur.execute(
                f"UPDATE {self.table} SET data = JSON_MERGE_PATCH(data, %s) WHERE id = %s",
                (json.dumps(changed), sid),
            )

    def drop(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {self.table}")
