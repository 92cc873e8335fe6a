"""satchel: sessions for Flask that never lose or leak a user's session.

The core (session object, codec, signing, settings) imports no web framework;
the Flask glue lives in :mod:`satchel.flask` and is re-exported here.
"""

from __future__ import annotations

from . import signals
from .config import CookieSettings
from .exc import ConfigError, CookieTooLarge, SatchelError, SerializationError, StoreUnavailable
from .session import Session
from .signing import CookieSerializer
from .tagged import TaggedJSON, session_json

_FLASK_NAMES = (
    "Satchel",
    "SatchelSessionInterface",
    "SessionInfo",
    "login",
    "logout",
    "revoke",
    "revoke_user",
    "sessions_of",
)

__all__ = [
    *_FLASK_NAMES,
    "ConfigError",
    "CookieSerializer",
    "CookieSettings",
    "CookieTooLarge",
    "SatchelError",
    "SerializationError",
    "Session",
    "StoreUnavailable",
    "TaggedJSON",
    "session_json",
    "signals",
]


def __getattr__(name: str) -> object:
    # The Flask glue is imported on first use so that the core works without Flask.
    if name in _FLASK_NAMES:
        from . import flask as _flask

        return getattr(_flask, name)
    raise AttributeError(f"module 'satchel' has no attribute {name!r}")
