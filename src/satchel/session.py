"""The session object: a dict that knows what changed.

:class:`Session` keeps Flask's contract (``modified``, ``accessed``, ``new``,
``permanent``; see ``flask.sessions.SecureCookieSession``) and adds what Flask
lacks:

* **Nested mutations are saved.** ``session["cart"].append(3)`` changes the
  session without touching the mapping itself. When a value that is not a
  scalar is handed out (``[]``, ``get``, ``setdefault``, ``values``, ``items``,
  iteration through ``dict(session)``), its serialized form is remembered, once
  per key and request; :meth:`Session.collect_changes`, called at save time,
  compares it with the value as it is then. Scalars cost nothing and there is
  no deep copy on reads.
* **It knows which keys changed**, so that server-side stores write only those
  and two concurrent requests that change different keys both survive.

``modified`` follows Werkzeug's ``CallbackDict`` as Flask uses it: set, del,
clear, update and popitem always mark it; ``setdefault`` only when the key was
missing; ``pop`` only when the key was present.
"""

from __future__ import annotations

import typing as t
from collections.abc import ItemsView, Iterator, ValuesView

from .tagged import SCALARS, _encoder, tag

_missing: t.Any = object()


def _fingerprint(value: t.Any) -> str | None:
    try:
        return _encoder.encode(tag(value))
    except (TypeError, ValueError):
        return None  # unserializable: counts as changed, and saving will say why


class Session(dict[str, t.Any]):
    """A session's data with Flask's flags and change tracking.

    :param initial: the stored data.
    :param new: whether the session did not exist before this request.
    :param created: when the session was first created, in seconds since the
        epoch, if known (used for the absolute lifetime).
    """

    __slots__ = (
        "_cleared",
        "_destroyed",
        "_dirty",
        "_regenerate",
        "_seen",
        "accessed",
        "bind_user",
        "created",
        "modified",
        "new",
        "nonce",
        "user",
    )

    def __init__(
        self,
        initial: t.Mapping[str, t.Any] | None = None,
        *,
        new: bool = False,
        created: float | None = None,
    ) -> None:
        super().__init__(initial or ())
        #: True once the session changed and must be saved.
        self.modified = False
        #: True once the session was used during the request (adds ``Vary: Cookie``).
        self.accessed = False
        #: True if the session did not exist before this request.
        self.new = new
        #: Creation time in seconds since the epoch, if known.
        self.created = created
        #: The user the session is bound to, as stored.
        self.user: str | None = None
        #: A user id to bind the session to when it is saved (see ``satchel.login``).
        self.bind_user: str | None = None
        #: Signed cookies with revocation on: names this session, so logout can end it.
        self.nonce: str | None = None
        self._dirty: set[str] = set()
        self._cleared = False
        self._seen: dict[str, str | None] = {}
        self._regenerate = False
        self._destroyed = False

    # -- Flask's SessionMixin -------------------------------------------------

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser; stored as ``_permanent``."""
        return bool(dict.get(self, "_permanent", False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    # -- life cycle -------------------------------------------------------------

    def regenerate(self) -> None:
        """Give the session a new id when it is saved, keeping its data.

        The old id stops working at once (R4): call it at login and at any
        change of privilege. A signed-cookie session has no id; its cookie is
        re-issued with a new creation time.
        """
        self._regenerate = True
        self.modified = True

    def destroy(self) -> None:
        """End the session: clear it, delete its stored record and its cookie."""
        self.clear()
        self._destroyed = True

    @property
    def regenerate_requested(self) -> bool:
        """Whether :meth:`regenerate` was called."""
        return self._regenerate

    @property
    def destroyed(self) -> bool:
        """Whether :meth:`destroy` was called."""
        return self._destroyed

    # -- writes ---------------------------------------------------------------

    def _changed(self, key: str) -> None:
        self._dirty.add(key)
        self.modified = True

    def mark_changed(self, keys: t.Iterable[str]) -> None:
        """Save these keys as if they had been set (e.g. to rewrite them)."""
        self._dirty.update(keys)
        self.modified = True

    def __setitem__(self, key: str, value: t.Any) -> None:
        dict.__setitem__(self, key, value)
        self._changed(key)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._changed(key)

    def clear(self) -> None:
        dict.clear(self)
        self._dirty.clear()
        self._seen.clear()
        self._cleared = True
        self.modified = True

    def pop(self, key: str, default: t.Any = _missing) -> t.Any:
        if dict.__contains__(self, key):
            self._changed(key)
            return dict.pop(self, key)
        if default is _missing:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[str, t.Any]:
        key, value = dict.popitem(self)
        self._changed(key)
        return key, value

    def setdefault(self, key: str, default: t.Any = None) -> t.Any:
        if dict.__contains__(self, key):
            return self[key]
        self[key] = default
        return default

    def update(self, *args: t.Any, **kwargs: t.Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            dict.__setitem__(self, key, value)
            self._dirty.add(key)
        self.modified = True

    def __ior__(self, other: t.Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    # -- reads that hand out values -------------------------------------------

    def _expose(self, key: str, value: t.Any) -> None:
        if key not in self._seen and key not in self._dirty:
            self._seen[key] = _fingerprint(value)

    def __getitem__(self, key: str) -> t.Any:
        value = dict.__getitem__(self, key)
        if type(value) not in SCALARS:
            self._expose(key, value)
        return value

    def get(self, key: str, default: t.Any = None) -> t.Any:
        if dict.__contains__(self, key):
            return self[key]
        return default

    def _expose_all(self) -> None:
        for key, value in dict.items(self):
            if type(value) not in SCALARS:
                self._expose(key, value)

    def values(self) -> ValuesView[t.Any]:  # type: ignore[override]
        self._expose_all()
        return dict.values(self)

    def items(self) -> ItemsView[str, t.Any]:  # type: ignore[override]
        self._expose_all()
        return dict.items(self)

    def __iter__(self) -> Iterator[str]:
        # Defining __iter__ also makes dict(session) and {**session} go through
        # keys() and __getitem__ instead of CPython's fast path, so values
        # copied out that way are tracked too.
        return dict.__iter__(self)

    def copy(self) -> dict[str, t.Any]:
        """A plain ``dict`` with the same items (nested values are shared)."""
        self._expose_all()
        return dict(dict.items(self))

    # -- what changed -----------------------------------------------------------

    def collect_changes(self) -> bool:
        """Detect nested mutations of values handed out; return ``modified``.

        Call once at save time, before looking at ``modified``.
        """
        for key, before in self._seen.items():
            if key in self._dirty or not dict.__contains__(self, key):
                continue
            if before is None or _fingerprint(dict.__getitem__(self, key)) != before:
                self._changed(key)
        self._seen.clear()
        return self.modified

    @property
    def cleared(self) -> bool:
        """Whether :meth:`clear` ran: everything stored before is replaced."""
        return self._cleared

    @property
    def changed_keys(self) -> frozenset[str]:
        """Keys set or deleted in this request (present ones set, absent ones deleted)."""
        return frozenset(self._dirty)

    def claimed_user(self, key: str) -> str | None:
        """The user the data under ``key`` names (Flask-Login's ``_user_id``), if any.

        Only str and int count (as ``str``): that is what login libraries write.
        """
        value = dict.get(self, key)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        return str(value)

    def claims_new_user(self, key: str) -> str | None:
        """The user under ``key`` if the session is not bound to them yet, else None.

        Whatever wrote it (a login, a "remember me" restore, code writing the
        key by hand), such a session must be bound to that user under a new
        id before it is saved (R42); the session's save does that.
        """
        claimed = self.claimed_user(key)
        if claimed is None or claimed == (self.bind_user or self.user):
            return None
        return claimed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {dict.__repr__(self)}>"
