"""Server-side sessions: the cookie carries a signed id, a store keeps the data.

:class:`ServerSessions` opens a session from the request's cookies and saves
what the request changed. The rules, in the order :meth:`ServerSessions.save`
applies them:

* **Nothing stored for nobody** (R6): a session that stays empty creates no
  record and sets no cookie.
* **A fresh id whenever a session starts**: a new session, and one that was
  cleared and then filled again in the same request (the login pattern of
  Flask's tutorial), get an id the server just made, so a planted id is never
  adopted (R2) and fixation fails.
* **A fresh id whenever a session gains a user** (R42): if the value under
  ``user_key`` (Flask-Login's ``_user_id``) names a user the record is not
  bound to, the session is regenerated and bound to that user, however the
  value got there (a "remember me" restore, code writing it by hand).
* **Only changes are written**: the keys the request set or deleted, nested
  mutations included, applied atomically onto what is stored now, so
  concurrent requests changing different keys both survive.
* **No resurrection**: if the session was destroyed, regenerated or expired
  while the request ran, its changes are dropped, ``session_conflict`` is
  sent and no cookie is set.
* **Reads cost one store read and no write**: the idle expiry is pushed back
  only once the remaining lifetime has dropped by ``refresh_margin``.
* ``regenerate()`` moves the data to a new id and kills the old one at once;
  ``destroy()`` deletes the record and the cookie.
* **A cookie is deleted only if it verified** and named a session that is
  gone or past its absolute lifetime (R45): one that does not verify may be
  under a key this worker lacks yet, or a sibling app's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import typing as t
from dataclasses import dataclass

from itsdangerous import BadSignature

from . import signals
from .exc import SerializationError
from .fields import PlainFields
from .ids import IdSigner, hash_id, new_id
from .session import Session
from .stores.base import Change, Record, Store
from .tagged import _encoder, describe_unserializable, session_json, tag

logger = logging.getLogger("satchel")

#: Where a session's device (IP address, user agent) is kept in its record,
#: hidden from the session mapping.
DEVICE_KEY = "_device"


@dataclass(frozen=True)
class SessionInfo:
    """One of a user's sessions, as listed by :meth:`ServerSessions.sessions_of`.

    It never carries the session id: ``handle`` names the session for
    :meth:`ServerSessions.revoke` and is useless as a cookie.
    """

    handle: str
    user: str | None
    created: int
    #: Last activity, to within the refresh margin (the expiry is extended lazily).
    last_seen: int
    expires: int
    ip: str | None
    user_agent: str | None
    #: Whether this is the session of the request asking.
    current: bool


class ServerSession(Session):
    """A :class:`Session` that knows where it is stored."""

    __slots__ = (
        "cookie",
        "device",
        "expires",
        "in_cookie",
        "key",
        "manager",
        "reissue",
        "sid",
        "stale",
    )

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: The :class:`ServerSessions` that opened it, and saves it.
        self.manager: ServerSessions | None = None
        self.sid: str | None = None
        self.key: str | None = None
        self.expires = 0
        #: The cookie value naming ``sid`` under the current key, once known.
        self.cookie: str | None = None
        self.reissue = False
        #: Whether a cookie named a session that verified but is gone (R45:
        #: only such a cookie is deleted, never one that did not verify).
        self.stale = False
        #: The requesting device ({"ip": ..., "ua": ...}), recorded when the
        #: session is created or bound to a user, if the adapter fills it in.
        self.device: dict[str, str | None] | None = None
        #: Whether it was opened from a data cookie: an anonymous session kept
        #: in the browser until it is bound to a user (SESSION_ANONYMOUS_IN_COOKIE).
        self.in_cookie = False


@dataclass(frozen=True)
class Outcome:
    """What the response must do with the cookie."""

    #: The cookie value to send, if any.
    set_cookie: str | None = None
    #: Whether to delete the cookie.
    delete_cookie: bool = False


NOTHING = Outcome()


_HANDLE = re.compile(r"[0-9a-f]{64}")


def is_handle(value: str) -> bool:
    """Whether ``value`` has the form of a handle (a store key: 64 hex digits)."""
    return isinstance(value, str) and _HANDLE.fullmatch(value) is not None


def _same(a: str, b: str) -> bool:
    # User ids are compared byte for byte (no folding of case, spaces or
    # Unicode forms), in constant time.
    encoded = a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(*encoded)


#: The longest user id every store keeps (SQL stores index it in 255 characters).
MAX_USER_ID = 255


def check_user_id(user: str) -> None:
    """Refuse a user id some store cannot keep exactly, before anything is written.

    :raises satchel.SerializationError: for a NUL character (PostgreSQL text
        cannot hold one) or more than :data:`MAX_USER_ID` characters.
    """
    if "\x00" in user or len(user) > MAX_USER_ID:
        raise SerializationError(
            f"A user id must have at most {MAX_USER_ID} characters and no NUL character"
            f" (got {len(user)} characters): bind sessions to your users' primary keys."
        )


def token_hash(token: str) -> str:
    """How a bad token is named in signals and logs: never the token itself."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


class ServerSessions:
    """Opens and saves server-side sessions in ``store``.

    :param store: where records live.
    :param signer: signs and verifies the ids in cookies.
    :param lifetime: idle timeout in seconds.
    :param absolute: absolute timeout in seconds since creation, or None.
    :param refresh_margin: how far the remaining lifetime may drop before a
        read-only request extends it (one write per margin, not per request).
    :param clock: returns the current time in seconds.
    :param sender: sent as the sender of :mod:`satchel.signals`.
    :param fields: how values are filed in records (:class:`~satchel.fields.SealedFields`
        encrypts them at rest).
    :param max_per_user: how many sessions one user may hold; when a login
        goes past it, the user's oldest sessions are ended (None: no limit).
    :param user_key: the session key naming the logged-in user (Flask-Login's
        ``_user_id``): a session whose value there is a user it is not bound to
        gets a new id and is bound to them when saved (R42).
    """

    def __init__(
        self,
        store: Store,
        signer: IdSigner,
        *,
        lifetime: int,
        absolute: int | None,
        refresh_margin: int,
        clock: t.Callable[[], float],
        sender: t.Any = None,
        fields: PlainFields | None = None,
        max_per_user: int | None = None,
        user_key: str = "_user_id",
    ) -> None:
        self.fields = fields or PlainFields()
        self.max_per_user = max_per_user
        self.user_key = user_key
        self.store = store
        self.signer = signer
        self.lifetime = lifetime
        self.absolute = absolute
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.sender = sender

    # -- opening --------------------------------------------------------------

    def open(self, values: t.Sequence[str]) -> ServerSession:
        """The session named by the first valid cookie of ``values``, else a new one.

        A value that does not verify may belong to another key or to a sibling
        app on the same domain: it is skipped, never marked for deletion (R45).

        :raises satchel.StoreUnavailable: if the store cannot be reached.
        """
        now = int(self.clock())
        stale = False
        for value in values:
            try:
                sid, by_current_key = self.signer.unsign(value)
            except BadSignature:
                signals.session_invalid.send(
                    self.sender, token_hash=token_hash(value), reason="signature"
                )
                continue
            key = hash_id(sid)
            record = self.store.load(key, now)
            if record is None:
                stale = True
                signals.session_expired.send(self.sender, key=key, reason="idle")
                continue
            if self.absolute is not None and now - record.created >= self.absolute:
                self.store.delete(key)
                stale = True
                signals.session_expired.send(self.sender, key=key, reason="absolute")
                continue
            decoded = self.fields.decode(key, record.data)
            session = ServerSession(self._decode(key, decoded.texts), created=record.created)
            if decoded.stale:  # filed under an old key: rewrite it all on save
                session.mark_changed(session.keys())
            session.manager = self
            session.sid, session.key, session.expires = sid, key, record.expires
            session.reissue = not by_current_key
            session.cookie = value if by_current_key else None
            session.user = record.user
            return session
        session = ServerSession(new=True)
        session.manager = self
        session.stale = stale
        return session

    @staticmethod
    def _decode(key: str, texts: dict[str, str]) -> dict[str, t.Any]:
        data = {}
        for name, text in texts.items():
            if name == DEVICE_KEY:
                continue
            try:
                data[name] = session_json.loads(text)
            except ValueError:
                # Keep the rest of the session; the bad value stays stored as it is.
                logger.warning(
                    "satchel: session %s has an unreadable value under %r", key[:12], name
                )
        return data

    # -- saving ---------------------------------------------------------------

    def save(self, session: ServerSession, resend: bool = False) -> Outcome:
        """Write what ``session`` changed and say what to do with the cookie.

        :param resend: send the cookie even if the id did not change (Flask's
            ``should_set_cookie``, e.g. ``SESSION_REFRESH_EACH_REQUEST``), so
            changed cookie attributes reach existing sessions. It costs no
            store write and no signing: the incoming value is sent again.

        :raises satchel.SerializationError: naming the key and type that cannot
            be stored; nothing is written then.
        :raises satchel.StoreUnavailable: if the store cannot be reached.
        """
        outcome = self._save(session, resend)
        if session.bind_user is not None and self.max_per_user is not None:
            self._cap(session.bind_user, session.key)
        return outcome

    def _cap(self, user: str, keep: str | None) -> None:
        """End ``user``'s oldest sessions beyond ``max_per_user``, never ``keep``.

        Run once per login, so it reads the user's sessions only then (R47).
        """
        assert self.max_per_user is not None
        now = int(self.clock())
        held = sorted(self._sessions_of(user, now), key=lambda pair: (pair[1].created, pair[0]))
        excess = len(held) - self.max_per_user
        for key, _ in held:
            if excess <= 0:
                return
            if key != keep and self.store.take(key, now) is not None:
                excess -= 1
                signals.session_revoked.send(self.sender, key=key, user=user)

    def _save(self, session: ServerSession, resend: bool) -> Outcome:
        now = int(self.clock())
        session.collect_changes()
        key = session.key
        claimed = session.claims_new_user(self.user_key)
        if claimed is not None:  # it became a user's (R42): new id, bound, listed
            session.bind_user = claimed
            session.regenerate()
        if session.bind_user is not None:
            check_user_id(session.bind_user)

        # An empty session being logged in is kept: the login itself is worth a record.
        empty = not session and session.bind_user is None
        if session.destroyed or (empty and (session.modified or session.cleared)):
            if key is not None:
                self.store.delete(key)
                signals.session_destroyed.send(self.sender, key=key)
            return Outcome(delete_cookie=key is not None or session.stale)

        if key is None or session.cleared:
            if empty:
                return Outcome(delete_cookie=session.stale)
            texts = self._encode(session, session.keys())
            if key is not None:  # cleared, then filled: a new session under a new id
                self.store.delete(key)
                signals.session_destroyed.send(self.sender, key=key)
            return self._create(session, texts, now)

        if session.regenerate_requested:
            sid = new_id()
            new_key = hash_id(sid)
            # Every value is written again: sealed values are bound to their key.
            change = self._change(session, now, new_key, everything=True)
            if not self.store.rename(key, new_key, change, now):
                return self._conflict(session)
            session.sid, session.key, session.cookie = sid, new_key, self.signer.sign(sid)
            signals.session_regenerated.send(self.sender, old_key=key, key=new_key)
            return Outcome(set_cookie=session.cookie)

        if session.changed_keys or session.bind_user is not None:
            if not self.store.update(key, self._change(session, now, key), now):
                return self._conflict(session)
            refreshed = True
        elif session.expires - now <= self.lifetime - self.refresh_margin:
            refreshed = self.store.touch(key, now + self.lifetime, now)
        else:
            refreshed = False

        assert session.sid is not None
        if (
            resend
            or session.reissue
            or "_permanent" in session.changed_keys
            or (refreshed and session.permanent)
        ):
            if session.cookie is None:  # it came signed by a fallback key
                session.cookie = self.signer.sign(session.sid)
            return Outcome(set_cookie=session.cookie)
        return NOTHING

    def _create(self, session: ServerSession, texts: dict[str, str], now: int) -> Outcome:
        sid = new_id()
        key = hash_id(sid)
        session.created = now
        if session.device is not None:
            texts[DEVICE_KEY] = _encoder.encode(session.device)
        record = Record(
            data=self.fields.encode(key, texts),
            created=now,
            expires=now + self.lifetime,
            user=session.bind_user,
        )
        self.store.create(key, record)
        session.sid, session.key, session.cookie = sid, key, self.signer.sign(sid)
        signals.session_created.send(self.sender, key=key)
        return Outcome(set_cookie=session.cookie)

    def _change(
        self, session: ServerSession, now: int, key: str, everything: bool = False
    ) -> Change:
        """The change to store under ``key``: the changed keys, or ``everything``."""
        changed = session.keys() if everything else session.changed_keys
        texts = self._encode(session, [k for k in changed if k in session])
        if session.device is not None and (everything or session.bind_user is not None):
            texts[DEVICE_KEY] = _encoder.encode(session.device)  # the device that logged in
        deleted = [k for k in session.changed_keys if k not in session]
        return Change(
            set=self.fields.encode(key, texts),
            delete=self.fields.fields_of(deleted) + self.fields.stale_fields_of(texts),
            replace=everything,
            expires=now + self.lifetime,
            user=session.bind_user,
        )

    def _conflict(self, session: ServerSession) -> Outcome:
        signals.session_conflict.send(
            self.sender, key=session.key, dropped=sorted(session.changed_keys)
        )
        return NOTHING

    @staticmethod
    def _encode(session: Session, keys: t.Iterable[str]) -> dict[str, str]:
        texts = {}
        for name in keys:
            try:
                texts[name] = _encoder.encode(tag(dict.__getitem__(session, name)))
            except (TypeError, ValueError) as e:
                raise SerializationError(describe_unserializable(session, e)) from e
        return texts

    # -- a user's sessions ----------------------------------------------------

    def sessions_of(self, user: str, current_key: str | None = None) -> list[SessionInfo]:
        """The live sessions bound to ``user``, oldest first."""
        now = int(self.clock())
        return sorted(
            (self.info(key, record, current_key) for key, record in self._sessions_of(user, now)),
            key=lambda info: (info.created, info.handle),
        )

    def _sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        # Exact, even over a store whose index folds ids (a custom one, an old
        # MySQL table): another user's session is never listed or ended.
        return [
            (key, record)
            for key, record in self.store.sessions_of(user, now)
            if record.user is not None and _same(record.user, user)
        ]

    def info(self, key: str, record: Record, current_key: str | None = None) -> SessionInfo:
        """Describe the stored ``record`` filed under ``key``."""
        device: dict[str, t.Any] = {}
        texts = self.fields.decode(key, record.data).texts
        if DEVICE_KEY in texts:
            try:
                device = session_json.loads(texts[DEVICE_KEY])
            except ValueError:
                device = {}
        return SessionInfo(
            handle=key,
            user=record.user,
            created=record.created,
            last_seen=max(record.created, record.expires - self.lifetime),
            expires=record.expires,
            ip=device.get("ip"),
            user_agent=device.get("ua"),
            current=key == current_key,
        )

    def revoke(self, handle: str, user: str | None = None) -> bool:
        """End the session ``handle`` names; with ``user``, only if it is theirs.

        Effective on that device's very next request.
        """
        if not is_handle(handle):  # refused before any lookup; and no collation can pad it
            return False
        now = int(self.clock())
        if user is not None:
            # One lookup by handle, compared exactly (R44, R47), instead of
            # reading every session of the user.
            record = self.store.load(handle, now)
            if record is None or record.user is None or not _same(record.user, user):
                return False
        record = self.store.take(handle, now)
        if record is None:
            return False
        signals.session_revoked.send(self.sender, key=handle, user=record.user)
        return True

    def revoke_user(self, user: str, keep: str | None = None) -> int:
        """End every session of ``user`` except ``keep``; return how many ended."""
        now = int(self.clock())
        ended = 0
        for key, _ in self._sessions_of(user, now):
            if key != keep and self.store.take(key, now) is not None:
                ended += 1
                signals.session_revoked.send(self.sender, key=key, user=user)
        return ended
