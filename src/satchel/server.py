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
"""

from __future__ import annotations

import hashlib
import logging
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

#: Duplicate cookies beyond this many are not looked at.
MAX_DUPLICATES = 4
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

    __slots__ = ("device", "expires", "key", "manager", "reissue", "sid", "stale")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: The :class:`ServerSessions` that opened it, and saves it.
        self.manager: ServerSessions | None = None
        self.sid: str | None = None
        self.key: str | None = None
        self.expires = 0
        self.reissue = False
        self.stale = False
        #: The requesting device ({"ip": ..., "ua": ...}), recorded when the
        #: session is created or bound to a user, if the adapter fills it in.
        self.device: dict[str, str | None] | None = None


@dataclass(frozen=True)
class Outcome:
    """What the response must do with the cookie."""

    #: The cookie value to send, if any.
    set_cookie: str | None = None
    #: Whether to delete the cookie.
    delete_cookie: bool = False


NOTHING = Outcome()


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
        user_key: str = "_user_id",
    ) -> None:
        self.fields = fields or PlainFields()
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

        :raises satchel.StoreUnavailable: if the store cannot be reached.
        """
        now = int(self.clock())
        stale = False
        for value in values[:MAX_DUPLICATES]:
            try:
                sid, by_current_key = self.signer.unsign(value)
            except BadSignature:
                stale = True
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

    def save(self, session: ServerSession) -> Outcome:
        """Write what ``session`` changed and say what to do with the cookie.

        :raises satchel.SerializationError: naming the key and type that cannot
            be stored; nothing is written then.
        :raises satchel.StoreUnavailable: if the store cannot be reached.
        """
        now = int(self.clock())
        session.collect_changes()
        key = session.key
        claimed = session.claims_new_user(self.user_key)
        if claimed is not None:  # it became a user's (R42): new id, bound, listed
            session.bind_user = claimed
            session.regenerate()

        if session.destroyed or (not session and (session.modified or session.cleared)):
            if key is not None:
                self.store.delete(key)
                signals.session_destroyed.send(self.sender, key=key)
            return Outcome(delete_cookie=key is not None or session.stale)

        if key is None or session.cleared:
            if not session:
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
            session.sid, session.key = sid, new_key
            signals.session_regenerated.send(self.sender, old_key=key, key=new_key)
            return Outcome(set_cookie=self.signer.sign(sid))

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
            session.reissue
            or "_permanent" in session.changed_keys
            or (refreshed and session.permanent)
        ):
            return Outcome(set_cookie=self.signer.sign(session.sid))
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
        session.sid, session.key = sid, key
        signals.session_created.send(self.sender, key=key)
        return Outcome(set_cookie=self.signer.sign(sid))

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
            (
                self.info(key, record, current_key)
                for key, record in self.store.sessions_of(user, now)
            ),
            key=lambda info: (info.created, info.handle),
        )

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
        now = int(self.clock())
        if user is not None and handle not in {k for k, _ in self.store.sessions_of(user, now)}:
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
        for key, _ in self.store.sessions_of(user, now):
            if key != keep and self.store.take(key, now) is not None:
                ended += 1
                signals.session_revoked.send(self.sender, key=key, user=user)
        return ended
