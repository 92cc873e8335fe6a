"""satchel: sessions for Flask that never lose or leak a user's session.

The core (session object, codec, signing, encryption, stores, settings,
checks) imports no web framework; the Flask glue lives in :mod:`satchel.flask`
and is re-exported here. The encryption names need the ``cryptography``
package (``pip install "satchel[crypto]"``) and are imported on first use.
"""

from __future__ import annotations

import typing as t

from . import signals
from .checks import Finding, run_checks
from .config import CookieSettings
from .exc import (
    BadToken,
    ConfigError,
    CookieTooLarge,
    MissingDependency,
    SatchelError,
    SerializationError,
    StoreUnavailable,
)
from .presets import HARDENED
from .session import Session
from .signing import CookieSerializer
from .tagged import TaggedJSON, session_json

#: The version, the one place it is written (pyproject.toml reads it).
__version__ = "0.1.0"

if t.TYPE_CHECKING:
    from .crypto import SealedCookieSerializer, Sealer, derive_key
    from .flask import (
        Satchel,
        SatchelSessionInterface,
        SessionInfo,
        login,
        logout,
        revoke,
        revoke_user,
        sessions_of,
    )

__all__ = [
    "HARDENED",
    "BadToken",
    "ConfigError",
    "CookieSerializer",
    "CookieSettings",
    "CookieTooLarge",
    "Finding",
    "MissingDependency",
    "Satchel",
    "SatchelError",
    "SatchelSessionInterface",
    "SealedCookieSerializer",
    "Sealer",
    "SerializationError",
    "Session",
    "SessionInfo",
    "StoreUnavailable",
    "TaggedJSON",
    "derive_key",
    "login",
    "logout",
    "revoke",
    "revoke_user",
    "run_checks",
    "session_json",
    "sessions_of",
    "signals",
]

_LAZY = {
    # The Flask glue, so that the core works without Flask.
    **dict.fromkeys(
        [
            "Satchel",
            "SatchelSessionInterface",
            "SessionInfo",
            "login",
            "logout",
            "revoke",
            "revoke_user",
            "sessions_of",
        ],
        "flask",
    ),
    # Encryption, so that the core works without cryptography.
    "SealedCookieSerializer": "crypto",
    "Sealer": "crypto",
    "derive_key": "crypto",
}


def __getattr__(name: str) -> object:
    # Imported on first use; see _LAZY.
    module = _LAZY.get(name)
    if module is not None:
        from importlib import import_module

        return getattr(import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'satchel' has no attribute {name!r}")
