"""satchel's Flask session interface.

:class:`SatchelSessionInterface` subclasses Flask's ``SecureCookieSessionInterface``
and keeps its contract (see ``flask/sessions.py``): every setting is read from
``app.config`` at request time through the same hook methods
(``get_cookie_name``, ``get_cookie_domain``, ..., ``get_expiration_time``,
``should_set_cookie``), ``get_signing_serializer(app)`` returns the
itsdangerous serializer that writes and reads the cookie, and ``save_session``
takes the same steps in the same order. With Flask's default settings the
cookie bytes are Flask's, so an app switches either way without logging
anybody out.

What it adds is written down where it happens: nested mutations are saved,
cookies under a fallback key are re-issued, an absolute lifetime, duplicate
cookies, oversized cookies refused, and settings checked at start-up.
"""

from __future__ import annotations

import logging
import time
import typing as t
import warnings
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask.sessions import NullSession, SecureCookieSessionInterface, SessionMixin

from .. import cookie, signals
from ..checks import log_findings
from ..config import (
    BROWSER_COOKIE_LIMIT,
    DEFAULTS,
    MAX_COOKIE_LIFETIME,
    CookieSettings,
    check_keys,
    check_settings,
    seconds,
)
from ..exc import StoreUnavailable
from ..fields import PlainFields, SealedFields
from ..ids import IdSigner, looks_like_id
from ..revocation import NotBefore
from ..server import ServerSession, ServerSessions, token_hash
from ..session import Session
from ..signing import Clock, CookieSerializer, sha1
from ..stores import Store, store_from_url
from ..tagged import session_json

if t.TYPE_CHECKING:
    from flask import Flask
    from flask.wrappers import Request, Response

    from ..crypto import SealedCookieSerializer

logger = logging.getLogger("satchel")

# Flask type-checks sessions against its mixin; ours keeps the core Flask-free.
SessionMixin.register(Session)

#: Where an interface keeps its per-app state, in ``app.extensions``.
STATE_KEY = "satchel.session_state"


@dataclass(eq=False)
class AppState:
    """What one interface knows about one app.

    It is kept on the app (``app.extensions``), not in the interface under
    ``id(app)``: one interface may serve many apps (Flask's default interface
    is shared), a new app may get a collected one's ``id`` and must not
    inherit its checks, and stores must close when their app goes.
    """

    checked: bool = False
    reported: bool = False
    warned: bool = False
    servers: dict[tuple[t.Any, ...], ServerSessions] = field(default_factory=dict)
    stores: dict[t.Any, Store] = field(default_factory=dict)


class SatchelSessionInterface(SecureCookieSessionInterface):
    """A drop-in replacement for Flask's session interface.

    Use it through :class:`satchel.Satchel`, or directly::

        app.session_interface = SatchelSessionInterface()

    :param clock: returns the current time in seconds since the epoch; tests
        pass their own to move time.
    """

    session_class = Session  # type: ignore[assignment]
    serializer = session_json  # type: ignore[assignment]
    digest_method = staticmethod(sha1)

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock
        self._serializers: dict[tuple[t.Any, ...], CookieSerializer] = {}
        self._sealed: dict[tuple[t.Any, ...], SealedCookieSerializer] = {}

    def state(self, app: Flask) -> AppState:
        """This interface's state for ``app`` (made on first use)."""
        states: dict[SatchelSessionInterface, AppState]
        states = app.extensions.setdefault(STATE_KEY, {})
        return states.get(self) or states.setdefault(self, AppState())  # atomic: no lost state

    # -- settings -------------------------------------------------------------

    def check_config(self, app: Flask) -> None:
        """Raise :class:`~satchel.ConfigError` if the session settings are unsafe
        or would be misread; run by ``init_app`` and before the first request.

        The first time for each app it also logs the security check's findings
        (:func:`satchel.checks.log_findings`)."""
        check_keys(app.config.get("SECRET_KEY"), app.config.get("SECRET_KEY_FALLBACKS"))
        check_settings(app.config)
        self.cookie_settings(app).check()
        if app.secret_key:
            try:
                self.server_sessions(app)  # an unknown store URL fails here, not per request
            except StoreUnavailable as e:  # down at start-up: requests answer 503 until it is back
                logger.warning("satchel: session store unavailable at start-up: %s", e)
        self.revocation(app)
        state = self.state(app)
        state.checked = True
        if not state.reported:  # once per app, even if checked again
            state.reported = True
            log_findings(app.config, debug=app.debug, app=app.name)

    def cookie_settings(self, app: Flask) -> CookieSettings:
        """The cookie attributes, read through the hook methods."""
        return CookieSettings(
            name=self.get_cookie_name(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            httponly=self.get_cookie_httponly(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            partitioned=self.get_cookie_partitioned(app),
        )

    def get_cookie_name(self, app: Flask) -> str:
        """``SESSION_COOKIE_NAME``, or the pre-2.3 ``app.session_cookie_name``.

        Flask ignores ``app.session_cookie_name = ...`` since 2.3 (the cookie
        silently keeps its old name); satchel honours it and warns once.
        """
        legacy = app.__dict__.get("session_cookie_name")
        if legacy is None:
            return app.config["SESSION_COOKIE_NAME"]  # type: ignore[no-any-return]
        state = self.state(app)
        if not state.warned:
            state.warned = True
            warnings.warn(
                "app.session_cookie_name was removed in Flask 2.3; satchel still honours"
                " it, but set app.config['SESSION_COOKIE_NAME'] instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        return str(legacy)

    def absolute_lifetime(self, app: Flask) -> int | None:
        """``SESSION_ABSOLUTE_LIFETIME`` in seconds, or None when off."""
        return seconds(app.config.get("SESSION_ABSOLUTE_LIFETIME"), "SESSION_ABSOLUTE_LIFETIME")

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        """Flask's rule (now + ``PERMANENT_SESSION_LIFETIME`` for permanent sessions),
        never past the absolute lifetime nor the browsers' 400-day cap."""
        if not session.permanent:
            return None
        now = self.clock()
        until = now + min(app.permanent_session_lifetime.total_seconds(), MAX_COOKIE_LIFETIME)
        absolute = self.absolute_lifetime(app)
        created = getattr(session, "created", None)
        if absolute is not None and created is not None:
            until = min(until, created + absolute)
        return datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=until - now)

    # -- signing --------------------------------------------------------------

    def get_signing_serializer(  # type: ignore[override]
        self, app: Flask
    ) -> CookieSerializer | SealedCookieSerializer | None:
        """The serializer for the cookie, or None without a ``SECRET_KEY``.

        Keys are ``[*SECRET_KEY_FALLBACKS, SECRET_KEY]``: it signs with
        ``SECRET_KEY`` and verifies with every key, as Flask's does. Built once
        per set of keys instead of once per request.

        With ``SESSION_COOKIE_ENCRYPTED`` it is a
        :class:`~satchel.crypto.SealedCookieSerializer` (same ``dumps``,
        ``loads``), which also accepts a valid signed cookie and has it
        re-issued sealed while ``SESSION_COOKIE_ACCEPT_SIGNED`` is on.
        """
        secret = app.secret_key
        if not secret:
            return None
        fallbacks = app.config["SECRET_KEY_FALLBACKS"]
        if app.config.get("SESSION_COOKIE_ENCRYPTED"):
            return self._sealed_serializer(app, secret, fallbacks)
        return self._signed_serializer(secret, fallbacks)

    def _signed_serializer(self, secret: t.Any, fallbacks: t.Any) -> CookieSerializer:
        cache_key = (
            secret,
            tuple(fallbacks) if isinstance(fallbacks, (list, tuple)) else fallbacks,
        )
        try:
            return self._serializers[cache_key]
        except (KeyError, TypeError):
            pass
        check_keys(secret, fallbacks)
        serializer = CookieSerializer(
            [*(fallbacks or ()), secret],
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
            clock=self.clock,
        )
        if len(self._serializers) > 16:  # keys rotated many times: forget the old sets
            self._serializers.clear()
        self._serializers[cache_key] = serializer
        return serializer

    def _sealed_serializer(
        self, app: Flask, secret: t.Any, fallbacks: t.Any
    ) -> SealedCookieSerializer:
        name = self.get_cookie_name(app)
        cache_key = (
            secret,
            tuple(fallbacks) if isinstance(fallbacks, (list, tuple)) else fallbacks,
            name,
            app.config["PERMANENT_SESSION_LIFETIME"],  # as set: converting it costs more
            accept_signed := app.config.get("SESSION_COOKIE_ACCEPT_SIGNED", True),
        )
        try:
            return self._sealed[cache_key]
        except (KeyError, TypeError):
            pass
        from ..crypto import SealedCookieSerializer  # cryptography is an optional extra

        check_keys(secret, fallbacks)
        serializer = SealedCookieSerializer(
            secret,
            fallbacks or (),
            name=name,
            lifetime=int(app.permanent_session_lifetime.total_seconds()),
            # The signed-to-sealed migration window, while the app keeps it open.
            legacy=self._signed_serializer(secret, fallbacks) if accept_signed else None,
            clock=self.clock,
            serializer=self.serializer,
        )
        if len(self._sealed) > 16:
            self._sealed.clear()
        self._sealed[cache_key] = serializer
        return serializer

    # -- server-side stores ---------------------------------------------------

    def _store(self, app: Flask, spec: t.Any) -> Store:
        stores = self.state(app).stores
        key = spec if isinstance(spec, str) else id(spec)
        store = stores.get(key)
        if store is None:
            store = stores[key] = store_from_url(spec)
            if isinstance(spec, str):  # made here, so closed here; a store passed in is its owner's
                weakref.finalize(app, store.close)
        return store

    def revocation(self, app: Flask) -> NotBefore | None:
        """Per-user not-before times for signed cookies, when
        ``SESSION_REVOCATION_STORE`` is set (R15); else None."""
        spec = app.config.get("SESSION_REVOCATION_STORE")
        if spec is None:
            return None
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        return NotBefore(self._store(app, spec), max(lifetime, self.absolute_lifetime(app) or 0))

    def server_sessions(self, app: Flask) -> ServerSessions | None:
        """The server-side session manager when ``SESSION_STORE`` is set, else None.

        Built once per store, key set and lifetimes, not per request.
        """
        spec = app.config.get("SESSION_STORE")
        secret = app.secret_key
        if spec is None or not secret:
            return None
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        margin = seconds(app.config.get("SESSION_REFRESH_MARGIN"), "SESSION_REFRESH_MARGIN")
        fallbacks = app.config["SECRET_KEY_FALLBACKS"] or ()
        encrypted = bool(app.config.get("SESSION_STORE_ENCRYPTED"))
        cap = app.config.get("SESSION_MAX_PER_USER", DEFAULTS["SESSION_MAX_PER_USER"])
        cache_key = (
            spec if isinstance(spec, str) else id(spec),
            secret,
            tuple(fallbacks),
            lifetime,
            self.absolute_lifetime(app),
            margin,
            encrypted,
            cap,
            user_key := app.config.get("SESSION_USER_KEY", "_user_id"),
        )
        servers = self.state(app).servers
        try:
            return servers[cache_key]
        except KeyError:
            pass
        server = ServerSessions(
            self._store(app, spec),
            IdSigner([*fallbacks, secret]),
            lifetime=lifetime,
            absolute=self.absolute_lifetime(app),
            refresh_margin=lifetime // 10 if margin is None else margin,
            clock=self.clock,
            sender=app,
            fields=SealedFields(secret, list(fallbacks)) if encrypted else PlainFields(),
            max_per_user=cap,
            user_key=user_key,
        )
        if len(servers) > 16:
            servers.clear()
        servers[cache_key] = server
        return server

    # -- the request cycle ----------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> Session | None:  # type: ignore[override]
        """Load the session named by the request's cookie (None without a secret key).

        If the session store cannot be reached, the session is a stand-in
        that raises :class:`~satchel.StoreUnavailable` when used (a 503), so
        requests that do not use the session still work.
        """
        if not self.state(app).checked:
            self.check_config(app)
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        values = cookie.values_from_header(
            request.environ.get("HTTP_COOKIE"), self.get_cookie_name(app)
        )
        in_cookie = bool(app.config.get("SESSION_ANONYMOUS_IN_COOKIE"))
        try:
            server = self.server_sessions(app)
            ids = [v for v in values if looks_like_id(v)] if in_cookie else values
            opened = None if server is None else server.open(ids)
        except StoreUnavailable as e:
            logger.warning("satchel: session store unavailable: %s", e)
            return UnavailableSession()  # type: ignore[return-value]
        if opened is not None and in_cookie and opened.key is None and len(ids) < len(values):
            opened = self._open_in_cookie(app, opened, serializer, values)
        if opened is not None:
            if app.config.get("SESSION_RECORD_DEVICE"):
                agent = request.headers.get("User-Agent", "")[:256]
                opened.device = {"ip": request.remote_addr, "ua": agent}
            return opened
        if not values:
            return self.session_class()
        now = self.clock()
        revocation = self.revocation(app)
        try:
            return cookie.open_session(
                serializer,
                values,
                max_age=int(app.permanent_session_lifetime.total_seconds()),
                absolute=self.absolute_lifetime(app),
                now=now,
                session_class=self.session_class,
                revoked=None
                if revocation is None
                else lambda u, created, nonce: revocation.refuses(u, created, nonce, int(now)),
                on_invalid=lambda value, reason: signals.session_invalid.send(
                    app, token_hash=token_hash(value), reason=reason
                ),
            )
        except StoreUnavailable as e:
            # Fail closed: a cookie that cannot be checked for revocation is not trusted.
            logger.warning("satchel: revocation store unavailable: %s", e)
            return UnavailableSession()  # type: ignore[return-value]

    def _open_in_cookie(
        self,
        app: Flask,
        fresh: ServerSession,
        serializer: CookieSerializer | SealedCookieSerializer,
        values: list[str],
    ) -> ServerSession:
        """SESSION_ANONYMOUS_IN_COOKIE: the anonymous session a data cookie of
        ``values`` holds, read as in cookie mode; else ``fresh``."""
        held = cookie.open_session(
            serializer,
            [v for v in values if not looks_like_id(v)],
            max_age=int(app.permanent_session_lifetime.total_seconds()),
            absolute=self.absolute_lifetime(app),
            now=self.clock(),
            session_class=ServerSession,
            on_invalid=lambda value, reason: signals.session_invalid.send(
                app, token_hash=token_hash(value), reason=reason
            ),
        )
        if not held and not held.modified:
            return fresh
        assert isinstance(held, ServerSession)
        held.manager, held.in_cookie = fresh.manager, True
        return held

    def _save_in_cookie(self, app: Flask, session: ServerSession, response: Response) -> bool:
        """SESSION_ANONYMOUS_IN_COOKIE: keep an anonymous session in the cookie,
        as cookie mode would; False when the store must take it (it outgrew
        the cookie, or the server's rules apply to an empty one)."""
        session.collect_changes()
        name = self.get_cookie_name(app)
        if not session and not session.in_cookie:
            return False
        if session.accessed:
            _vary_cookie(response)
        if not session:
            if session.modified:
                response.delete_cookie(name, **self._cookie_attributes(app))
                _vary_cookie(response)
            return True
        if not self.should_set_cookie(app, t.cast(SessionMixin, session)):
            return True
        serializer = self.get_signing_serializer(app)
        assert serializer is not None  # a server session is only opened with a key
        value = cookie.seal(
            serializer, session, absolute=self.absolute_lifetime(app), now=self.clock()
        )
        if len(name.encode()) + len(value) > BROWSER_COOKIE_LIMIT:
            return False  # outgrew the cookie: it moves to the store
        expires = self.get_expiration_time(app, t.cast(SessionMixin, session))
        response.set_cookie(name, value, expires=expires, **self._cookie_attributes(app))
        _vary_cookie(response)
        return True

    def _cookie_attributes(self, app: Flask) -> dict[str, t.Any]:
        return {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "partitioned": self.get_cookie_partitioned(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Set, refresh or delete the cookie, in Flask's order.

        The deletion cookie carries the same attributes as the one that set it
        (R14), and at most one Set-Cookie for the session goes out (R23).
        """
        if isinstance(session, ServerSession):
            self._save_server(app, session, response)
            return

        name = self.get_cookie_name(app)
        attributes = self._cookie_attributes(app)
        if isinstance(session, Session):
            session.collect_changes()

        if session.accessed:
            _vary_cookie(response)

        if not session:
            if session.modified:
                response.delete_cookie(name, **attributes)
                _vary_cookie(response)
            return

        if not self.should_set_cookie(app, session):
            return

        serializer = self.get_signing_serializer(app)
        assert serializer is not None  # a null session is never saved
        value = cookie.seal(
            serializer,
            t.cast(Session, session),
            absolute=self.absolute_lifetime(app),
            now=self.clock(),
            track_user=self.revocation(app) is not None,
            user_key=app.config.get("SESSION_USER_KEY", "_user_id"),
        )
        expires = self.get_expiration_time(app, session)  # after seal: it knows `created`
        if app.config.get("SESSION_COOKIE_OVERSIZE", "raise") == "raise":
            cookie.check_size(name, value, t.cast(Session, session))
        response.set_cookie(name, value, expires=expires, **attributes)
        _vary_cookie(response)

    def _save_server(self, app: Flask, session: ServerSession, response: Response) -> None:
        assert session.manager is not None  # set by ServerSessions.open
        session.collect_changes()  # before should_set_cookie reads `modified`
        if (
            app.config.get("SESSION_ANONYMOUS_IN_COOKIE")
            and session.key is None
            and session.bind_user is None
            and session.claims_new_user(session.manager.user_key) is None
            and self._save_in_cookie(app, session, response)
        ):
            return
        try:
            # Flask's rule (modified, or permanent with SESSION_REFRESH_EACH_REQUEST)
            # re-sends the cookie: new attributes reach existing sessions, at no store write.
            outcome = session.manager.save(
                session, resend=self.should_set_cookie(app, t.cast(SessionMixin, session))
            )
        except StoreUnavailable as e:
            logger.warning("satchel: session store unavailable: %s", e)
            _answer_unavailable(response)
            return
        if session.accessed:
            _vary_cookie(response)
        if outcome.delete_cookie:
            response.delete_cookie(self.get_cookie_name(app), **self._cookie_attributes(app))
            _vary_cookie(response)
        elif outcome.set_cookie is not None:
            response.set_cookie(
                self.get_cookie_name(app),
                outcome.set_cookie,
                expires=self.get_expiration_time(app, t.cast(SessionMixin, session)),
                **self._cookie_attributes(app),
            )
            _vary_cookie(response)


class UnavailableSession(NullSession):
    """Stands for a session whose store cannot be reached: using it raises
    :class:`~satchel.StoreUnavailable`, which satchel answers with a 503."""

    def _fail(self, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise StoreUnavailable("satchel: the session store cannot be reached")

    __getitem__ = __setitem__ = __delitem__ = get = clear = pop = popitem = _fail
    update = setdefault = keys = values = items = __iter__ = __len__ = __contains__ = _fail
    del _fail


def _answer_unavailable(response: Response) -> None:
    # save_session cannot swap the response, so it turns this one into a 503:
    # the request's changes were not saved and the client must not think so.
    response.status_code = 503
    response.set_data(UNAVAILABLE_TEXT)
    response.mimetype = "text/plain"
    response.headers["Retry-After"] = "1"


UNAVAILABLE_TEXT = "Service Unavailable: the session store cannot be reached. Try again shortly."


def _store_unavailable(error: StoreUnavailable) -> tuple[str, int, dict[str, str]]:
    return UNAVAILABLE_TEXT, 503, {"Retry-After": "1", "Content-Type": "text/plain"}


def _vary_cookie(response: Response) -> None:
    # The header Flask's ``response.vary.add("Cookie")`` gives, without parsing
    # and rewriting it each time (half of satchel's cost on a read, bench/run.py).
    if response.headers.getlist("Vary"):
        response.vary.add("Cookie")
    else:
        response.headers.add("Vary", "Cookie")


def install(app: Flask, interface: SatchelSessionInterface) -> None:
    """Set satchel's defaults on ``app``, check its settings, install ``interface``
    and register the ``flask session`` commands."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    interface.check_config(app)
    app.session_interface = interface
    if StoreUnavailable not in app.error_handler_spec[None][None]:
        app.register_error_handler(StoreUnavailable, _store_unavailable)
    from .cli import session_cli  # click is only needed once an app is set up

    if app.cli.commands.get("session") is not session_cli:
        app.cli.add_command(session_cli)
