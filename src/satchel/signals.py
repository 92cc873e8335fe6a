"""Signals, through blinker as Flask's own: subscribe to log, count or rate-limit.

Each is sent with the application (or the adapter's owner) as sender and
keyword arguments. No signal ever carries a session id or a cookie: sessions
are named by ``key`` (the hash a store files them under) and bad tokens by
``token_hash`` (a SHA-256 of the token), so a log of them hands nobody a
session.

=======================  ==========================================================
signal                   keyword arguments
=======================  ==========================================================
``session_created``      ``key``
``session_regenerated``  ``old_key``, ``key``
``session_destroyed``    ``key``
``session_expired``      ``key``, ``reason`` (``"absolute"``, or ``"idle"``: gone from
                         the store, which cannot tell expiry from an ended session)
``session_conflict``     ``key``, ``dropped`` (the session keys not saved)
``session_invalid``      ``token_hash``, ``reason`` (``"signature"``, or ``"expired"``
                         for a signed cookie past its lifetime or revoked)
``session_revoked``      ``key``, ``user``
=======================  ==========================================================
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: A new server-side session was stored.
session_created = _signals.signal("satchel.session-created")
#: A session got a new id; the old one is dead.
session_regenerated = _signals.signal("satchel.session-regenerated")
#: A session was ended by the app (logout).
session_destroyed = _signals.signal("satchel.session-destroyed")
#: A request came with a session that had expired.
session_expired = _signals.signal("satchel.session-expired")
#: A request's changes were dropped because its session ended meanwhile.
session_conflict = _signals.signal("satchel.session-conflict")
#: A request came with a cookie that does not verify.
session_invalid = _signals.signal("satchel.session-invalid")
#: A session was revoked (by its user from another device, or an operator).
session_revoked = _signals.signal("satchel.session-revoked")
