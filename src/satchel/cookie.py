"""Client-side sessions: from cookie values to a :class:`Session` and back.

The functions here hold the rules that do not depend on the web framework:

* of several cookies with the session's name (cookie tossing, R40) the first
  one that verifies wins, so a garbage cookie sent first cannot log anybody out;
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
#: Duplicate cookies beyond this many are not even looked at.
MAX_DUPLICATES = 4


def values_from_header(header: str | None, name: str) -> list[str]:
    """Every value of cookie ``name`` in a ``Cookie`` header, in the order sent.

    Hand-written because Werkzeug parses every cookie of the header into a
    MultiDict, which costs about a tenth of a tiny request (``bench/run.py``).
    satchel's values are base64url and dots, never quoted, so a quoted value
    (or one cut short by a quoted ``;`` of another cookie) is simply not a
    valid session and the next duplicate is tried.
    """
    if not header or name not in header:
        return []
    values = []
    for part in header.split(";"):
        key, sep, value = part.partition("=")
        if sep and key.strip(" \t") == name:
            values.append(value.strip(" \t"))
    return values


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
    not_before: t.Callable[[str], int | None] | None = None,
    on_invalid: t.Callable[[str, str], object] | None = None,
) -> Session:
    """Return the session carried by the first valid cookie of ``values``.

    :param max_age: seconds a cookie stays valid after it was last written.
    :param absolute: seconds a session stays valid after it was created, or None.
    :param now: the current time in seconds since the epoch.
    :param not_before: with cookie revocation on, returns a user's not-before
        time: cookies of that user created earlier are refused.
    :param on_invalid: called with ``(value, reason)`` for each cookie refused:
        ``"expired"`` (idle, absolute or revoked) or ``"signature"`` (it does
        not verify or open), so the caller can signal it (R41).
    """
    track = absolute is not None or not_before is not None
    for value in values[:MAX_DUPLICATES]:
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
        created = user = None
        if track:
            created = data.pop(CREATED_KEY, None)
            if not isinstance(created, (int, float)) or isinstance(created, bool):
                created = signed_at  # from before the setting: its last write is the best we know
            if not_before is not None:
                user = data.pop(USER_KEY, None)
                user = user if isinstance(user, str) else None
            if _dead(created, user, now, absolute, not_before):
                if on_invalid is not None:
                    on_invalid(value, "expired")
                dropped = session_class()
                dropped.modified = True  # deletes the cookie on the way out
                return dropped
        session = session_class(data, created=created)
        session.user = user
        if not by_current_key:
            session.modified = True  # re-issued under the current key
        return session
    return session_class()


def _dead(
    created: float | None,
    user: str | None,
    now: float,
    absolute: int | None,
    not_before: t.Callable[[str], int | None] | None,
) -> bool:
    if created is None or created > now:
        return True
    # Dead at exactly created + absolute, as a record is at its `expires` (server.py).
    if absolute is not None and now - created >= absolute:
        return True
    if user is not None and not_before is not None:
        revoked_before = not_before(user)
        return revoked_before is not None and created < revoked_before
    return False


def seal(
    serializer: CookieOpener,
    session: Session,
    *,
    absolute: int | None,
    now: float,
    track_user: bool = False,
) -> str:
    """The cookie value for ``session``.

    With an absolute lifetime or ``track_user`` (cookie revocation on), the
    creation time, and the user the session is bound to, go inside.
    """
    if absolute is None and not track_user:
        value = serializer.dumps(session)
    else:
        if session.created is None or session.regenerate_requested:
            session.created = int(now)
        data = dict(dict.items(session))
        data[CREATED_KEY] = int(session.created)
        user = session.bind_user or session.user
        if track_user and user is not None:
            data[USER_KEY] = user
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
