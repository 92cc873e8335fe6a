"""Server-side session stores: one module per backend behind :class:`Store`.

``SESSION_STORE`` names one by URL, or is a store object:

=====================================  ========================================
``memory://``                          :class:`~satchel.stores.memory.MemoryStore`
``sqlite:///path/sessions.db``         :class:`~satchel.stores.sqlite.SQLiteStore`
``redis://host:port/db``               :class:`~satchel.stores.redis.RedisStore`
``redis+cluster://host:port``          the same, on a Redis Cluster
``redis+sentinel://h:p,h:p/name/db``   the same, on the master Sentinel names
any other SQLAlchemy URL               :class:`~satchel.stores.sql.SQLStore`
=====================================  ========================================
"""

from __future__ import annotations

import typing as t

from ..exc import ConfigError
from .base import Change, Record, Store
from .memory import MemoryStore

__all__ = ["Change", "MemoryStore", "Record", "Store", "store_from_url"]


def store_from_url(spec: str | Store | t.Any) -> Store:
    """The store ``spec`` names: a URL, a :class:`Store`, or a Redis client."""
    if isinstance(spec, Store):
        return spec
    if not isinstance(spec, str):
        if type(spec).__module__.startswith("redis"):
            from .redis import RedisStore

            return RedisStore(spec)
        raise ConfigError(f"SESSION_STORE must be a URL or a satchel store, not {spec!r}.")
    scheme = spec.partition("://")[0].lower()
    if not scheme or scheme == spec.lower():
        raise ConfigError(f"SESSION_STORE={spec!r} is not a URL such as 'sqlite:///sessions.db'.")
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore.from_url(spec)
    if scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster", "redis+sentinel"):
        from .redis import RedisStore

        return RedisStore.from_url(spec)
    from .sql import SQLStore

    return SQLStore.from_url(spec)
