"""Client-side sessions: from cookie values to a :class:`Session` and back.

The functions here hold the rules that do not depend on the web framework:

* of several cookies with the session's name (cookie tossing, R40) the first
  one that verifies wins, so garbage cookies sent first cannot log anybody out:
  every one is examined, up to :data:`MAX_DUPLICATES`, more than a browser keeps;
* any cookie that does not verify, has expired or is unreadable gives an empty
  session, never an error;
* with an absolute lifetime, the creation time travels inside the signed
  payload under :data:`CREATED_KEY` and a session older than that is dropped
  (and its cookie deleted) however active it was;
* a cookie verified by a fallback key is marked modified, so it is re-issued
  under the current key in the same response;
* a cookie over the browser limit is refused (:func:`check_size`).

``serializer`` is anything with ``open(value, max_age, want_timestamp)`` and
``dumps(obj)``, such as :class:`satchel.signing.CookieSerializer`.
"""

from __future__ import annotations

import secrets
import typing as t

from itsdangerous import SignatureExpired

from .config import BROWSER_COOKIE_LIMIT
from .exc import CookieTooLarge, TokenExpired
from .session import Session
from .tagged import _encoder, tag

#: Where the creation time sits in the payload when an absolute lifetime is set.
CREATED_KEY = "_created"
#: Where the user sits in the payload when cookie revocation is on.
USER_KEY = "_user"
#: Where a bound cookie's random name sits when cookie revocation is on, so
#: that logout can end that cookie (and its copies) alone.
NONCE_KEY = "_nonce"
#: Distinct values of the session cookie examined per request, in both modes.
#: Browsers keep about 180 cookies per site (Chrome 180, Firefox 150; RFC 6265
#: asks for at least 50), all names together, so cookies tossed from a sibling
#: subdomain can never push a real one past 200. A request with more is not
#: from a browser; the bound keeps its cost (at most 200 signature checks, and
#: store reads only for ids that verify) small.
MAX_DUPLICATES = 200


def values_from_header(header: str | None, name: str) -> list[str]:
    """The distinct values of cookie ``name`` in a ``Cookie`` header, in the order
    sent, at most :data:`MAX_DUPLICATES` of them.

    Hand-written because Werkzeug parses every cookie of the header into a
    MultiDict, which costs about a tenth of a tiny request (``bench/run.py``).
    satchel's values are base64url and dots, never quoted, so a quoted value
    (or one cut short by a quoted ``;`` of another cookie) is simply not a
    valid session and the next duplicate is tried.
    """
    if not header or name not in header:
        return []
    values: dict[str, None] = {}  # ordered; a value repeated is examined once
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip(" \t") == name:
            values[value.strip(" \t")] = None
            if len(values) == MAX_DUPLICATES:
                break
    return list(values)


class CookieOpener(t.Protocol):
    """What :func:`open_session` needs from a serializer."""

    def open(
        self, value: str | bytes, max_age: int | None, want_timestamp: bool = False
    ) -> tuple[t.Any, int | None, bool]: ...

    def dumps(self, obj: t.Any) -> t.Any: ...


def open_session(
    serializer: CookieOpener,
    values: t.Sequence[str],
    *,
    max_age: int | None,
    absolute: int | None,
    now: float,
    session_class: type[Session] = Session,
    revoked: t.Callable[[str, float, str | None], bool] | None = None,
    on_invalid: t.Callable[[str, str], object] | None = None,
) -> Session:
    """Return the session carried by the first valid cookie of ``values``.

    :param max_age: seconds a cookie stays valid after it was last written.
    :param absolute: seconds a session stays valid after it was created, or None.
    :param now: the current time in seconds since the epoch.
    :param revoked: with cookie revocation on, ``revoked(user, created, nonce)``
        says whether that user's cookie was revoked (created before the user's
        not-before time, or ended by logout): it is refused.
    :param on_invalid: called with ``(value, reason)`` for each cookie refused:
        ``"expired"`` (idle, absolute or revoked) or ``"signature"`` (it does
        not verify or open), so the caller can signal it (R41).
    """
    track = absolute is not None or revoked is not None
    for value in values:
        try:
            data, signed_at, by_current_key = serializer.open(value, max_age, want_timestamp=track)
        except (SignatureExpired, TokenExpired):
            if on_invalid is not None:
                on_invalid(value, "expired")
            continue
        except Exception:  # any unreadable cookie means no session, never a 500
            if on_invalid is not None:
                on_invalid(value, "signature")
            continue
        if not isinstance(data, dict):
            if on_invalid is not None:
                on_invalid(value, "signature")
            continue
        created = user = nonce = None
        if track:
            # A float since sub-second precision (R15); an int from older versions.
            created = data.pop(CREATED_KEY, None)
            if not isinstance(created, (int, float)) or isinstance(created, bool):
                created = signed_at  # from before the setting: its last write is the best we know
            if revoked is not None:
                user = data.pop(USER_KEY, None)
                user = user if isinstance(user, str) else None
                nonce = data.pop(NONCE_KEY, None)
                nonce = nonce if isinstance(nonce, str) else None
            if _dead(created, user, nonce, now, absolute, revoked):
                if on_invalid is not None:
                    on_invalid(value, "expired")
                dropped = session_class()
                dropped.modified = True  # deletes the cookie on the way out
                return dropped
        session = session_class(data, created=created)
        session.user = user
        session.nonce = nonce
        if not by_current_key:
            session.modified = True  # re-issued under the current key
        return session
    return session_class()


def _dead(
    created: float | None,
    user: str | None,
    nonce: str | None,
    now: float,
    absolute: int | None,
    revoked: t.Callable[[str, float, str | None], bool] | None,
) -> bool:
    if created is None or created > now:
        return True
    # Dead at exactly created + absolute, as a record is at its `expires` (server.py).
    if absolute is not None and now - created >= absolute:
        return True
    return user is not None and revoked is not None and revoked(user, created, nonce)


def seal(
    serializer: CookieOpener,
    session: Session,
    *,
    absolute: int | None,
    now: float,
    track_user: bool = False,
    user_key: str = "_user_id",
) -> str:
    """The cookie value for ``session``.

    With an absolute lifetime or ``track_user`` (cookie revocation on), the
    creation time (in seconds, sub-second precision) goes inside; with
    ``track_user`` also the user the session is bound to and a random nonce
    naming the session, so that :func:`satchel.logout` can end it. A session
    that gained a user under ``user_key`` in this request (R42) is bound to
    them and starts anew: new creation time, new nonce.
    """
    if absolute is None and not track_user:
        value = serializer.dumps(session)
    else:
        fresh = session.created is None or session.regenerate_requested
        if track_user:
            claimed = session.claims_new_user(user_key)
            if claimed is not None:
                session.bind_user = claimed
                # Written now: a login. Not written now: a cookie from before
                # revocation was on, bound as it is, keeping its creation time.
                fresh = fresh or user_key in session.changed_keys
        if fresh:
            session.created = now
            session.nonce = None
        data = dict(dict.items(session))
        assert session.created is not None
        data[CREATED_KEY] = session.created
        user = session.bind_user or session.user
        if track_user and user is not None:
            data[USER_KEY] = user
            if session.nonce is None:
                session.nonce = secrets.token_urlsafe(16)
            data[NONCE_KEY] = session.nonce
        value = serializer.dumps(data)
    return value.decode("ascii") if isinstance(value, bytes) else t.cast(str, value)


def check_size(name: str, value: str, session: dict[str, t.Any]) -> None:
    """Raise :class:`CookieTooLarge` if browsers would drop this cookie."""
    size = len(name.encode()) + len(value)
    if size <= BROWSER_COOKIE_LIMIT:
        return
    sizes = []
    for key, item in dict.items(session):
        try:
            sizes.append((key, len(_encoder.encode(tag(item)))))
        except (TypeError, ValueError):
            sizes.append((key, -1))
    sizes.sort(key=lambda pair: pair[1], reverse=True)
    raise CookieTooLarge(size, BROWSER_COOKIE_LIMIT, sizes[:3])
