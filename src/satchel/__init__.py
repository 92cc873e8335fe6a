"""satchel: sessions for Flask that never lose or leak a user's session.

The core (session object, codec, signing, settings) imports no web framework;
the Flask glue lives in :mod:`satchel.flask` and is re-exported here.
"""

from __future__ import annotations

from .config import CookieSettings
from .exc import ConfigError, CookieTooLarge, SatchelError, SerializationError
from .session import Session
from .signing import CookieSerializer
from .tagged import TaggedJSON, session_json

__all__ = [
    "ConfigError",
    "CookieSerializer",
    "CookieSettings",
    "CookieTooLarge",
    "Satchel",
    "SatchelError",
    "SatchelSessionInterface",
    "SerializationError",
    "Session",
    "TaggedJSON",
    "session_json",
]


def __getattr__(name: str) -> object:
    # The Flask glue is imported on first use so that the core works without Flask.
    if name in ("Satchel", "SatchelSessionInterface"):
        from . import flask as _flask

        return getattr(_flask, name)
    raise AttributeError(f"module 'satchel' has no attribute {name!r}")
