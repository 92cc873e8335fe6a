"""Flask glue: the session interface and the ``Satchel`` extension."""

from __future__ import annotations

import typing as t

from .._optional import optional_import
from ..signing import Clock

with optional_import("satchel's Flask integration"):
    from .interface import SatchelSessionInterface, install
    from .users import SessionInfo, login, logout, revoke, revoke_user, sessions_of

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "Satchel",
    "SatchelSessionInterface",
    "SessionInfo",
    "login",
    "logout",
    "revoke",
    "revoke_user",
    "sessions_of",
]


class Satchel:
    """The Flask extension: ``Satchel(app)`` or ``Satchel().init_app(app)``.

    It installs a :class:`SatchelSessionInterface` on the app after checking
    the session settings, so a misconfiguration fails at start-up with a
    message saying what to change instead of misbehaving in browsers.

    :param clock: returns the current time in seconds; for tests.
    """

    def __init__(self, app: Flask | None = None, *, clock: Clock | None = None) -> None:
        self.clock = clock
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check ``app``'s session settings and install satchel's interface.

        :raises satchel.ConfigError: if a setting is unsafe or inconsistent.
        """
        interface = (
            SatchelSessionInterface(clock=self.clock) if self.clock else SatchelSessionInterface()
        )
        install(app, interface)
        app.extensions["satchel"] = self
        _follow_flask_login(app)


def _follow_flask_login(app: Flask) -> None:
    """Regenerate on Flask-Login's login and "remember me" restore (R42), and end
    the session on its logout."""
    try:
        from flask_login import user_loaded_from_cookie, user_logged_in, user_logged_out
    except ImportError:
        return
    user_logged_in.connect(_on_login, app)
    # The restore writes _user_id into whatever session the browser sent,
    # which may be one an attacker planted: it must become a new one.
    user_loaded_from_cookie.connect(_on_login, app)
    user_logged_out.connect(_on_logout, app)


def _on_login(sender: t.Any, user: t.Any, **extra: t.Any) -> None:
    login(user.get_id())


def _on_logout(sender: t.Any, user: t.Any, **extra: t.Any) -> None:
    from flask import session

    # Flask-Login tells its after-request hook to clear the remember-me cookie
    # through the session, which logout() empties: carry the order over.
    remember = session.get("_remember")
    logout()
    if remember is not None:
        session["_remember"] = remember
