"""Exceptions raised by satchel.

Every error satchel raises on purpose derives from :class:`SatchelError`, so an
application can handle them in one place.
"""

from __future__ import annotations


class SatchelError(Exception):
    """Base class of every error satchel raises on purpose."""


class ConfigError(SatchelError, ValueError):
    """The session settings are inconsistent; the message says what to change."""


class SerializationError(SatchelError, TypeError):
    """A session value cannot be stored; the message names the key and the type."""


class CookieTooLarge(SatchelError):
    """The session cookie would exceed what browsers keep (4096 bytes for name + value).

    Browsers drop such a cookie without a word, which logs the user out, so
    satchel refuses to send it. ``size`` is the cookie's size and ``largest`` the
    biggest keys with their serialized sizes, largest first.
    """

    def __init__(self, size: int, limit: int, largest: list[tuple[str, int]]) -> None:
        self.size = size
        self.limit = limit
        self.largest = largest
        keys = ", ".join(f"{k!r} ({n} bytes)" for k, n in largest) or "none"
        super().__init__(
            f"satchel: the session cookie would be {size} bytes, over the browser"
            f" limit of {limit}; browsers would drop it silently. Largest keys:"
            f" {keys}. Store less in the session, or use a server-side store"
            " (SESSION_STORE)."
        )


class StoreUnavailable(SatchelError):
    """The session store cannot be reached; answer 503 and try again later.

    Nothing half-written is left behind, and the next request that finds the
    store back works without a restart. The Flask glue answers it with a 503
    unless the app registers its own handler for it.
    """

    status_code = 503


class BadToken(SatchelError, ValueError):
    """A sealed (encrypted) value did not open.

    It is malformed, of an unknown format version, under a key that is not
    configured, tampered with, bound to other associated data (another cookie
    name, another session), expired or issued in the future. The message says
    which, for logs; a session that does not open is simply empty.
    """


class TokenExpired(BadToken):
    """A sealed value opened, but its lifetime is over."""


class MissingDependency(ConfigError, ImportError):
    """An optional package that a feature or a setting needs is not installed.

    The message names the package and the exact ``pip install "satchel[...]"``
    that brings it. It is a :class:`ConfigError` (the settings ask for what the
    installation lacks) and an :class:`ImportError` (it is raised where the
    package is imported); ``name`` is the missing module.
    """

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name
