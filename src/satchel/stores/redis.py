"""Redis store: one hash per session, on one server or a Redis Cluster.

A session lives at ``prefix + key`` (the key is the SHA-256 of its id, never
the id) as a hash holding one field per session key, ``d:<name>`` -> the
value's JSON text, plus ``created``, ``expires`` and, if bound, ``user``.

Every operation is one single-key command or one single-key Lua script, so it
is atomic on its own (nothing is ever half-written) and works unchanged on a
cluster, where a session's one key lives in one slot. Expiry is checked in two
ways: logically, against the caller's ``now``, by every read and script (the
caller's clock decides, as the protocol says); and by Redis, which deletes the
key when its TTL runs out, so nothing needs purging. The TTL is set relative to
the caller's time (``EXPIRE key expires-now``), never with ``EXPIREAT``, so a
caller whose clock differs from the server's neither loses live sessions nor
keeps dead ones forever.

A user's sessions are listed through a set at ``prefix + "u:" + user`` holding
their keys (session keys are 64 hex digits, never starting with ``u:``, so the
two namespaces cannot meet whatever the user id), added to when a session is
bound (a separate single-key command: on a cluster the set and the sessions
live in different slots, and no cross-slot transaction is needed). The set has
no TTL, so it can never end before a session it lists; members whose session is
gone are pruned when the set is read (no keyspace notifications, which a
cluster loses).

Durability (opt-in, ``wait_replicas``): Redis replicates asynchronously, so a
write acknowledged by a master that dies before passing it on is lost when a
replica takes over. With ``wait_replicas=N`` every write is followed, on the
same connection, by ``WAIT N timeout``; unless N replicas confirm it within the
timeout the write is reported as failed (:class:`~satchel.StoreUnavailable`,
a 503), never acknowledged. Such a write is *in doubt*: it may still surface.

Errors that mean the server cannot be reached or cannot serve right now
(connection refused or lost, timeouts, cluster down, loading, failover) are
raised as :class:`~satchel.StoreUnavailable`; other errors are bugs and pass
through.
"""

from __future__ import annotations

import contextlib
import re
import time
import typing as t
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from .._optional import optional_import
from ..exc import ConfigError, StoreUnavailable

with optional_import("The Redis session store"):
    import redis
    from redis import exceptions as rx
    from redis.backoff import NoBackoff
    from redis.cluster import RedisCluster
    from redis.retry import Retry
from .base import Change, Record, Store

#: A session's key: the 64-hex SHA-256 of its id. User indexes live at
#: ``"u:" + user``, which never matches, whatever the user id's length.
_SESSION_KEY = re.compile(r"[0-9a-f]{64}")

#: What a :class:`RedisStore` talks to.
Client: t.TypeAlias = "redis.Redis | RedisCluster"

# The server cannot serve now; trying again later may work. A programming error
# (a wrong command, a wrong type) is none of these and passes through as is.
# RedisClusterException is mostly topology trouble ("cannot be connected",
# "slots not covered"); the programming errors it also stands for (cross-slot
# commands) cannot come from the single-key commands used here.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # refused, reset, auth, LOADING (BusyLoadingError), pool exhausted
    rx.TimeoutError,
    rx.ClusterError,  # CLUSTERDOWN, MASTERDOWN, redirections exhausted
    rx.TryAgainError,  # resharding
    rx.ReadOnlyError,  # talking to a replica after a failover
    rx.OutOfMemoryError,  # maxmemory reached with noeviction
    rx.RedisClusterException,
)

_RETRIED: tuple[type[BaseException], ...] = (*_UNAVAILABLE, rx.MovedError)

# Keys are "d:" + session key; the metadata fields below cannot clash with them.
_CREATE = """
local k = KEYS[1]
redis.call('DEL', k)
redis.call('HSET', k, 'created', ARGV[2], 'expires', ARGV[3])
if ARGV[4] == '1' then redis.call('HSET', k, 'user', ARGV[5]) end
for i = 6, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', k, ARGV[1])
return 1
"""

# ARGV: now, expires, has_user, user, replace, n_delete, delete fields..., set field/value pairs...
_UPDATE = """
local k = KEYS[1]
local now = tonumber(ARGV[1])
local e = redis.call('HGET', k, 'expires')
if not e or tonumber(e) <= now then return 0 end
if ARGV[5] == '1' then
  local c = redis.call('HGET', k, 'created')
  local u = redis.call('HGET', k, 'user')
  redis.call('DEL', k)
  redis.call('HSET', k, 'created', c)
  if u then redis.call('HSET', k, 'user', u) end
end
local first_set = 7 + tonumber(ARGV[6])
for i = 7, first_set - 1 do redis.call('HDEL', k, ARGV[i]) end
for i = first_set, #ARGV, 2 do redis.call('HSET', k, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', k, 'expires', ARGV[2])
if ARGV[3] == '1' then redis.call('HSET', k, 'user', ARGV[4]) end
redis.call('EXPIRE', k, tonumber(ARGV[2]) - now)
return 1
"""

# ARGV: now, expires
_TOUCH = """
local k = KEYS[1]
local now = tonumber(ARGV[1])
local e = redis.call('HGET', k, 'expires')
if not e or tonumber(e) <= now then return 0 end
redis.call('HSET', k, 'expires', ARGV[2])
redis.call('EXPIRE', k, tonumber(ARGV[2]) - now)
return 1
"""

# ARGV: now
_TAKE = """
local k = KEYS[1]
local e = redis.call('HGET', k, 'expires')
if not e or tonumber(e) <= tonumber(ARGV[1]) then return false end
local fields = redis.call('HGETALL', k)
redis.call('DEL', k)
return fields
"""


class RedisStore(Store):
    """Sessions in Redis, one hash per session under ``prefix``.

    :param client: a ``redis.Redis`` or ``redis.cluster.RedisCluster`` (not an
        asyncio one), with ``decode_responses`` on or off. Give it socket
        timeouts and few retries: while the store is down, a request waits that
        long before it gets its 503.
    :param prefix: put before every key, so several apps or tests can share a
        server; on a cluster, do not put a ``{hash tag}`` in it, or every
        session lands in the same slot.
    :param wait_replicas: if above 0, a write is acknowledged only once that
        many replicas of its server confirm it (Redis ``WAIT``), so a failover
        cannot lose it; otherwise it fails with StoreUnavailable.
    :param wait_timeout_ms: how long a write waits for those replicas (> 0).
    """

    def __init__(
        self,
        client: Client,
        prefix: str = "satchel:",
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 100,
    ) -> None:
        if not isinstance(client, (redis.Redis, RedisCluster)):  # e.g. a redis.asyncio client
            raise ConfigError(
                "satchel: RedisStore needs a redis.Redis or a redis.cluster.RedisCluster,"
                f" not {client!r}."
            )
        # WAIT with timeout 0 blocks until the replicas answer, i.e. forever
        # while one is down: refuse it rather than hang a worker.
        if not (isinstance(wait_replicas, int) and wait_replicas >= 0) or not (
            isinstance(wait_timeout_ms, int) and wait_timeout_ms > 0
        ):
            raise ConfigError(
                "satchel: RedisStore needs wait_replicas >= 0 and wait_timeout_ms > 0,"
                f" not {wait_replicas!r} and {wait_timeout_ms!r}."
            )
        self.client = client
        self.prefix = prefix
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._decoded = bool(client.get_encoder().decode_responses)
        self._create = client.register_script(_CREATE)
        self._update = client.register_script(_UPDATE)
        self._touch = client.register_script(_TOUCH)
        self._take = client.register_script(_TAKE)

    @classmethod
    def from_url(cls, url: str, prefix: str = "satchel:", **client_kwargs: t.Any) -> RedisStore:
        """A store on the server ``url`` names.

        ``redis://``, ``rediss://`` and ``unix://`` URLs make a ``redis.Redis``;
        ``redis+cluster://host:port`` and ``rediss+cluster://`` a
        ``RedisCluster`` found from that node;
        ``redis+sentinel://host:port[,host:port...]/service_name[/db]`` the
        master of ``service_name`` that those Sentinels name (redis-py's
        ``Sentinel.master_for``; a password in the URL is the data servers',
        the Sentinels' own go in ``client_kwargs["sentinel_kwargs"]``). The
        query options ``wait_replicas`` and ``wait_timeout_ms`` set the
        durability of the same names; the other options in the query string
        and ``client_kwargs`` go to redis-py. Unless they say otherwise, sockets
        time out after 2 s and a failed command is retried once (a connection
        dropped since the last request; three times on a cluster, re-reading
        the topology), so while the store is down a request fails fast with a
        503 instead of holding its worker through redis-py's longer retries.

        :raises satchel.StoreUnavailable: if a cluster's nodes cannot be reached
            (redis-py asks one for the topology at once; a single server is
            first contacted by the first operation).
        """
        url, durability = _durability_options(url)
        scheme, sep, rest = url.partition("://")
        scheme = scheme.lower()
        kwargs: dict[str, t.Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
        if scheme == "redis+sentinel":
            kwargs["retry"] = Retry(NoBackoff(), 1)
            return cls(_sentinel_master(url, kwargs, client_kwargs), prefix=prefix, **durability)
        if scheme.endswith("+cluster"):
            # A few tries, each after re-reading the topology (how redis-py
            # follows a failover); it sleeps 0.25 s itself after CLUSTERDOWN.
            kwargs["retry"] = Retry(NoBackoff(), 3)
            kwargs.update(client_kwargs)
            try:
                cluster = RedisCluster.from_url(scheme[: -len("+cluster")] + sep + rest, **kwargs)
            except _UNAVAILABLE as e:
                raise _unavailable(e) from e  # the URL may hold a password: not in the message
            return cls(cluster, prefix=prefix, **durability)
        kwargs["retry"] = Retry(NoBackoff(), 1)
        kwargs.update(client_kwargs)
        return cls(redis.Redis.from_url(url, **kwargs), prefix=prefix, **durability)

    # -- the protocol -----------------------------------------------------------

    def load(self, key: str, now: int) -> Record | None:
        """The live record under ``key``: one HGETALL, expiry checked against ``now``."""
        try:
            fields = t.cast("dict[t.Any, t.Any]", self.client.hgetall(self.prefix + key))
        except _UNAVAILABLE as e:
            raise _unavailable(e) from e
        return self._record(fields, now) if fields else None

    def create(self, key: str, record: Record) -> None:
        """File ``record`` under ``key``, replacing whatever was there.

        The TTL is ``expires - created``, exact for a new session (created now).
        """
        self._write_new(key, record, record.expires - record.created)

    def _write_new(self, key: str, record: Record, ttl: int) -> None:
        args: list[str | int] = [ttl, record.created, record.expires, *_user_args(record.user)]
        for name, text in record.data.items():
            args += ("d:" + name, text)
        self._run(self._create, key, args)
        if record.user is not None:
            self._index(record.user, key)

    def update(self, key: str, change: Change, now: int) -> bool:
        """Apply ``change`` in one script; False, writing nothing, if not live at ``now``."""
        args: list[str | int] = [
            now,
            change.expires,
            *_user_args(change.user),
            int(change.replace),
            len(change.delete),
        ]
        args += ["d:" + name for name in change.delete]
        for name, text in change.set.items():
            args += ("d:" + name, text)
        applied = bool(self._run(self._update, key, args))
        if applied and change.user is not None:
            self._index(change.user, key)
        return applied

    def touch(self, key: str, expires: int, now: int) -> bool:
        """Move a live record's expiry (and TTL) to ``expires``; False if not live."""
        return bool(self._run(self._touch, key, [now, expires]))

    def take(self, key: str, now: int) -> Record | None:
        """Read and delete the live record in one script; None if not live."""
        flat = self._run(self._take, key, [now])
        if not flat:
            return None
        record = self._record(dict(zip(flat[::2], flat[1::2], strict=True)), now)
        if record is not None and record.user is not None:
            self._command("srem", self._user_key(record.user), key)
        return record

    def delete(self, key: str) -> None:
        """Remove the record under ``key`` (one DEL); a missing key is fine."""
        self._command("delete", self.prefix + key)

    def purge(self, now: int, batch: int = 1000) -> t.Iterator[int]:
        """Nothing to do: every key carries a TTL and Redis deletes it itself."""
        return iter(())

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        """The user's live sessions, from their index set; dead members are pruned."""
        index = self._user_key(user)
        members = self._call(self.client.smembers, index)
        keys = sorted(m.decode() if isinstance(m, bytes) else m for m in members)
        found, dead = [], []
        for key, record in zip(keys, self._load_many(keys, now), strict=True):
            if record is not None and record.user == user:
                found.append((key, record))
            else:
                dead.append(key)
        if dead:
            self._call(self.client.srem, index, *dead)
        return found

    def scan(self, now: int, batch: int = 1000) -> t.Iterator[tuple[str, Record]]:
        """Every live session, by SCAN over the prefix (every node of a cluster)."""
        pending: list[str] = []
        try:
            for raw in self.client.scan_iter(match=self.prefix + "*", count=batch):
                name = raw.decode() if isinstance(raw, bytes) else raw
                key = name[len(self.prefix) :]
                if not _SESSION_KEY.fullmatch(key):  # a user index ("u:" + user), not a session
                    continue
                pending.append(key)
                if len(pending) >= batch:
                    yield from self._live_pairs(pending, now)
                    pending = []
        except _UNAVAILABLE as e:
            raise _unavailable(e) from e
        yield from self._live_pairs(pending, now)

    def rename(self, old: str, new: str, change: Change, now: int) -> bool:
        """Move the live record under ``old`` to ``new``: take, then write.

        On a cluster the two keys are in different slots, so no one script or
        transaction can hold both. It is still safe: once the take has run, the
        old key is gone, so a concurrent update or touch of it finds nothing and
        is dropped (no resurrection), and the new key is unknown to anyone until
        the cookie naming it is sent. If the store fails between the two, the
        session is lost (the user logs in again), never duplicated or leaked.
        """
        record = self.take(old, now)
        if record is None:
            return False
        record.data = change.apply(record.data)
        record.expires = change.expires
        record.user = change.user if change.user is not None else record.user
        self._write_new(new, record, change.expires - now)  # the TTL from now, not from creation
        return True

    def close(self) -> None:
        """Close the client's connections (redis-py reconnects if used again)."""
        self.client.close()

    # -- helpers ----------------------------------------------------------------

    def _user_key(self, user: str) -> str:
        return f"{self.prefix}u:{user}"

    def _index(self, user: str, key: str) -> None:
        self._command("sadd", self._user_key(user), key)

    def _call(self, command: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
        try:
            return command(*args)
        except _UNAVAILABLE as e:
            raise _unavailable(e) from e

    def _load_many(self, keys: list[str], now: int) -> list[Record | None]:
        # One pipeline: one round trip per node instead of one per session.
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self.prefix + key)
        replies = self._call(pipe.execute)
        return [self._record(fields, now) if fields else None for fields in replies]

    def _live_pairs(self, keys: list[str], now: int) -> list[tuple[str, Record]]:
        return [
            (key, record)
            for key, record in zip(keys, self._load_many(keys, now), strict=True)
            if record is not None
        ]

    def _run(self, script: t.Any, key: str, args: list[str | int]) -> t.Any:
        # Script calls EVALSHA and, if the server lost the script (restart,
        # failover), loads it and calls again. Each script is idempotent except
        # take, whose retry after a lost reply finds nothing: the safe outcome.
        name = self.prefix + key
        return self._write(name, lambda client: script(keys=[name], args=args, client=client))

    def _command(self, command: str, name: str, *args: t.Any) -> t.Any:
        return self._write(name, lambda client: getattr(client, command)(name, *args))

    def _write(self, name: str, queue: t.Callable[[t.Any], t.Any]) -> t.Any:
        """Run the write ``queue`` sends about key ``name``, durably if configured."""
        if self.wait_replicas:
            return self._durable(name, queue)
        try:
            return queue(self.client)
        except _UNAVAILABLE as e:
            raise _unavailable(e) from e

    def _durable(self, name: str, queue: t.Callable[[t.Any], t.Any]) -> t.Any:
        """The write, then ``WAIT``, in one pipeline: WAIT counts the replicas
        that have what *its own connection* wrote, so both must share one. On
        a cluster that is a connection to the node owning ``name``'s slot
        (redis-py's cluster pipeline would send WAIT to every master); a moved
        slot or a lost node re-reads the topology and tries again, briefly."""
        cluster = isinstance(self.client, RedisCluster)
        attempts = 3 if cluster else 1
        for attempt in range(attempts):
            try:
                node = self._node_client(name)
                pipe: t.Any = node.pipeline(transaction=False)
                queue(pipe)
                pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
                result, acked = pipe.execute()
                break
            except _RETRIED as e:  # MovedError: a stale slot map
                if attempt == attempts - 1:
                    raise _unavailable(e) from e
                time.sleep(0.25)  # a failover takes a moment to show in the topology
                with contextlib.suppress(*_RETRIED):
                    t.cast(RedisCluster, self.client).nodes_manager.initialize()
        if int(acked) < self.wait_replicas:
            raise StoreUnavailable(
                f"satchel: the Redis session store did not confirm a write on"
                f" {self.wait_replicas} replica(s) within {self.wait_timeout_ms} ms"
            )
        return result

    def _node_client(self, name: str) -> redis.Redis:
        if isinstance(self.client, RedisCluster):
            node = self.client.get_node_from_key(name)  # type: ignore[no-untyped-call]
            return self.client.get_redis_connection(node)
        return self.client

    def _record(self, fields: dict[t.Any, t.Any], now: int) -> Record | None:
        if self._decoded:
            expires = int(fields.pop("expires"))
            if expires <= now:
                return None
            created = int(fields.pop("created"))
            user = fields.pop("user", None)
            data = {name[2:]: text for name, text in fields.items()}
        else:
            expires = int(fields.pop(b"expires"))
            if expires <= now:
                return None
            created = int(fields.pop(b"created"))
            raw_user = fields.pop(b"user", None)
            user = None if raw_user is None else raw_user.decode()
            data = {name[2:].decode(): text.decode() for name, text in fields.items()}
        return Record(data=data, created=created, expires=expires, user=user)


def _durability_options(url: str) -> tuple[str, dict[str, int]]:
    """``url`` without its ``wait_replicas`` / ``wait_timeout_ms`` options, and those."""
    parts = urlsplit(url)
    kept, found = [], {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("wait_replicas", "wait_timeout_ms"):
            try:
                found[name] = int(value)
            except ValueError:
                raise ConfigError(f"satchel: {name} must be an integer, not {value!r}.") from None
        else:
            kept.append((name, value))
    if not found:
        return url, {}
    return parts._replace(query=urlencode(kept)).geturl(), found


def _sentinel_master(
    url: str, kwargs: dict[str, t.Any], client_kwargs: dict[str, t.Any]
) -> redis.Redis:
    """The master client of ``redis+sentinel://[user:pass@]h:p[,h:p]/service[/db][?opts]``."""
    from redis.connection import URL_QUERY_ARGUMENT_PARSERS as parsers
    from redis.sentinel import Sentinel

    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(
                "satchel: a redis+sentinel:// URL lists the Sentinels as host:port[,host:port...]."
            )
        sentinels.append((host.strip("[]"), int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigError(
            "satchel: a redis+sentinel:// URL ends in /service_name or /service_name/db."
        )
    if userinfo:
        user, has_password, password = userinfo.partition(":")
        if user:
            kwargs["username"] = unquote(user)
        if has_password:
            kwargs["password"] = unquote(password)
    for name, value in parse_qsl(parts.query):
        parser: t.Any = parsers.get(name)
        kwargs[name] = parser(value) if parser else value
    kwargs.update(client_kwargs)
    # Asking a Sentinel fails fast too (redis-py's default retries with
    # backoff would hold a request for seconds when none can be reached).
    sentinel_kwargs = kwargs.pop("sentinel_kwargs", None) or {
        "socket_timeout": kwargs["socket_timeout"],
        "socket_connect_timeout": kwargs["socket_connect_timeout"],
        "retry": Retry(NoBackoff(), 0),
    }
    manager = Sentinel(  # type: ignore[no-untyped-call]
        sentinels, sentinel_kwargs=sentinel_kwargs, **_timeouts(kwargs)
    )
    db = int(path[1]) if len(path) == 2 else 0
    master = manager.master_for(path[0], db=db, **kwargs)  # type: ignore[no-untyped-call]
    return t.cast(redis.Redis, master)


def _timeouts(kwargs: dict[str, t.Any]) -> dict[str, t.Any]:
    return {k: kwargs[k] for k in ("socket_timeout", "socket_connect_timeout") if k in kwargs}


def _user_args(user: str | None) -> tuple[int, str]:
    return (0, "") if user is None else (1, user)


def _unavailable(error: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"satchel: the Redis session store cannot be reached: {error}")
