"""Users and devices: log in, log out, list and revoke a user's sessions.

These work on the current request's session, inside a Flask request::

    satchel.login(user.id)          # new session id, bound to the user (R4)
    satchel.logout()                # the session ends on the server (R13)
    satchel.sessions_of(user.id)    # "your devices", with a current flag
    satchel.revoke(handle)          # sign that device out
    satchel.revoke_user(user.id)    # sign out everywhere else

Listing and revoking need a server-side store (``SESSION_STORE``): a signed
cookie lives in the browser, and nothing on the server can end it. ``login``
and ``logout`` work in both modes: in cookie mode ``login`` re-issues the
cookie with a new creation time and ``logout`` deletes it; a copy of the old
cookie stays valid until it expires unless ``SESSION_REVOCATION_STORE`` is
set, which lets ``logout`` end it.

With Flask-Login installed, :class:`~satchel.Satchel` calls :func:`login` on
its ``user_logged_in`` and ``user_loaded_from_cookie`` ("remember me")
signals and :func:`logout` on ``user_logged_out``; Flask-Login itself does
neither. Whatever the hooks, a session whose ``SESSION_USER_KEY`` value names
a user it is not bound to is regenerated and bound when saved (R42).
"""

from __future__ import annotations

import typing as t

from flask import current_app, session

from ..exc import ConfigError
from ..server import ServerSession, ServerSessions, SessionInfo

__all__ = ["SessionInfo", "login", "logout", "revoke", "revoke_user", "sessions_of"]


def login(user_id: str | int) -> None:
    """Bind the current session to ``user_id`` and give it a new id."""
    s = t.cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]
    s.regenerate()
    s.bind_user = str(user_id)


def logout() -> None:
    """End the current session: deleted on the server, cookie removed.

    In cookie mode with ``SESSION_REVOCATION_STORE`` the cookie is also
    recorded as ended, so a copy of it replayed later opens as anonymous
    (R15). Cookies issued before that store was set carry no nonce until
    their next rewrite; those are only deleted.
    """
    current = t.cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]
    user = current.bind_user or current.user
    if not isinstance(current, ServerSession) and user is not None and current.nonce is not None:
        interface = current_app.session_interface
        revocation = getattr(interface, "revocation", lambda app: None)(current_app)
        if revocation is not None:
            revocation.end(user, current.nonce, int(interface.clock()))
    current.destroy()


def _manager() -> ServerSessions:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    manager = getattr(app.session_interface, "server_sessions", lambda app: None)(app)
    if manager is None:
        raise ConfigError(
            "Listing and revoking sessions needs a server-side store: set SESSION_STORE"
            " (e.g. 'sqlite:///sessions.db')."
        )
    return t.cast(ServerSessions, manager)


def _current_key() -> str | None:
    current = session._get_current_object()  # type: ignore[attr-defined]
    return current.key if isinstance(current, ServerSession) else None


def sessions_of(user_id: str | int) -> list[SessionInfo]:
    """The user's live sessions, oldest first; the requester's has ``current=True``."""
    return _manager().sessions_of(str(user_id), _current_key())


def revoke(handle: str, user_id: str | int | None = None) -> bool:
    """End the session ``handle`` names (from :func:`sessions_of`).

    Pass ``user_id`` to end it only if it belongs to that user, as a "sign out
    that device" button must. Returns whether a session ended.
    """
    return _manager().revoke(handle, None if user_id is None else str(user_id))


def revoke_user(user_id: str | int, keep_current: bool = True) -> int:
    """End the user's sessions, except the requester's when ``keep_current``.

    Returns how many ended. With signed cookies and ``SESSION_REVOCATION_STORE``
    every cookie of the user created before now is refused from now on (the
    current one is re-issued when kept); there is no count then, and 0 is
    returned.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    interface = app.session_interface
    if getattr(interface, "server_sessions", lambda app: None)(app) is None:
        revocation = getattr(interface, "revocation", lambda app: None)(app)
        if revocation is None:
            raise ConfigError(
                "Revoking a user's signed cookies needs SESSION_REVOCATION_STORE"
                " (or keep sessions on the server with SESSION_STORE)."
            )
        now = interface.clock()  # sub-second: a cookie made earlier in this second dies too
        revocation.set(str(user_id), now, int(now))
        current = t.cast(ServerSession, session._get_current_object())  # type: ignore[attr-defined]
        if keep_current and current:
            current.regenerate()  # re-issued with a creation time not before now
        elif not keep_current:
            current.clear()
        return 0
    keep = _current_key() if keep_current else None
    return _manager().revoke_user(str(user_id), keep)
