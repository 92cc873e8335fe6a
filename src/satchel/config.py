"""Session settings: their defaults, their parsing and the start-up checks.

Names and defaults are Flask 3.1's (``SESSION_COOKIE_*``, ``SECRET_KEY_FALLBACKS``,
``PERMANENT_SESSION_LIFETIME``, ...) plus satchel's own:

``SESSION_ABSOLUTE_LIFETIME`` (None)
    A session older than this since its creation is dropped however active it
    is. A ``timedelta`` or seconds; None turns it off.
``SESSION_COOKIE_ENCRYPTED`` (False)
    Seal the cookie with AES-256-GCM (:mod:`satchel.crypto`) instead of only
    signing it, so that its holder cannot read it. Needs the ``cryptography``
    package (``pip install satchel[crypto]``). Signed cookies from before are
    accepted and re-issued sealed while ``SESSION_COOKIE_ACCEPT_SIGNED`` is on.
``SESSION_COOKIE_ACCEPT_SIGNED`` (True)
    Encrypted cookies: accept a valid signed cookie (and re-issue it sealed),
    so that turning encryption on logs nobody out. A migration window: turn it
    off once the signed cookies have been replaced (:data:`satchel.HARDENED`
    does); ``flask session check`` reports it while it is on.
``SESSION_ALLOW_WEAK_KEYS`` (False)
    Accept a ``SECRET_KEY`` or ``SECRET_KEY_FALLBACKS`` key that the security
    check rates weak (well-known, repetitive). For tests only; empty keys are
    refused even then (R43).
``SESSION_USER_KEY`` ("_user_id")
    The session key that names the logged-in user (Flask-Login's). When a
    request writes a user there that the session is not bound to, the session
    gets a new id and is bound to that user at save time (R42), however the
    value got there (``login_user``, a "remember me" restore, by hand).
``SESSION_COOKIE_OVERSIZE`` ("raise")
    What to do when name + value would exceed :data:`BROWSER_COOKIE_LIMIT`:
    ``"raise"`` fails the request with :class:`~satchel.exc.CookieTooLarge`;
    ``"warn"`` sends it anyway and lets Werkzeug warn, as Flask does.
``SESSION_STORE`` (None)
    None keeps sessions in the signed cookie. A URL (``"sqlite:///sessions.db"``,
    ``"redis://..."``, ``"memory://"``, any SQLAlchemy URL) or a store object
    keeps them on the server, the cookie carrying only a signed id.
``SESSION_REFRESH_MARGIN`` (None: a tenth of ``PERMANENT_SESSION_LIFETIME``)
    Server-side sessions: a request that changes nothing extends the idle
    expiry only once the remaining lifetime has dropped by this much, so reads
    cost no write.
``SESSION_RECORD_DEVICE`` (False)
    Server-side sessions: keep the client's IP address and user agent with
    each session when it is created or bound to a user, for "your devices"
    lists.
``SESSION_STORE_ENCRYPTED`` (False)
    Server-side sessions: seal every stored value with AES-256-GCM, bound to
    its session, and hide the names of its keys, so a dump of the store shows
    nothing (the user a session belongs to stays readable, for the per-user
    index). Sessions stored before it was turned on do not open afterwards.
``SESSION_MAX_PER_USER`` (100)
    Server-side sessions: how many sessions one user may hold at once. A login
    past it ends that user's oldest sessions (R47), so a script or an attacker
    with a password cannot pile up rows without bound. 100 is far more devices
    than a person uses; None turns the limit off.
``SESSION_ANONYMOUS_IN_COOKIE`` (False)
    Server-side sessions: keep a session that is bound to no user in the
    cookie (signed, or sealed with ``SESSION_COOKIE_ENCRYPTED``), in the format
    of the cookie mode, so anonymous visitors cost the store nothing (R47). It
    moves to the store, under a new server id, when it is bound to a user
    (``satchel.login``) or outgrows the cookie (4096 bytes). Like any signed
    cookie, an anonymous one cannot be ended on the server before it expires.
``SESSION_REVOCATION_STORE`` (None)
    Signed-cookie sessions: a store URL (or object) where satchel keeps a
    per-user "not before" time, so ``satchel.revoke_user`` can end a user's
    cookies (R15). Costs one store read per request with a logged-in cookie.

Nothing here imports Flask: any adapter hands in its own settings mapping.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import timedelta
from importlib.util import find_spec

from ._optional import missing
from .checks import key_weakness
from .exc import ConfigError

#: What browsers keep of one cookie's name + value (RFC 6265 section 6.1).
BROWSER_COOKIE_LIMIT = 4096
#: Browsers cap cookie lifetimes at 400 days (RFC 6265bis).
MAX_COOKIE_LIFETIME = 400 * 24 * 3600

#: satchel's own settings and their defaults.
DEFAULTS: dict[str, t.Any] = {
    "SESSION_ABSOLUTE_LIFETIME": None,
    "SESSION_COOKIE_ENCRYPTED": False,
    "SESSION_COOKIE_OVERSIZE": "raise",
    "SESSION_STORE": None,
    "SESSION_REFRESH_MARGIN": None,
    "SESSION_RECORD_DEVICE": False,
    "SESSION_REVOCATION_STORE": None,
    "SESSION_STORE_ENCRYPTED": False,
    "SESSION_MAX_PER_USER": 100,
    "SESSION_ANONYMOUS_IN_COOKIE": False,
    "SESSION_COOKIE_ACCEPT_SIGNED": True,
    "SESSION_ALLOW_WEAK_KEYS": False,
    "SESSION_USER_KEY": "_user_id",
}

#: The one-liner every key error suggests.
GENERATE_KEY = """python -c 'import secrets; print(secrets.token_hex(32))'"""

_SAMESITE = {"strict": "Strict", "lax": "Lax", "none": "None"}


def seconds(value: timedelta | int | float | None, setting: str) -> int | None:
    """A lifetime setting in whole seconds (None stays None)."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    raise ConfigError(f"{setting} must be a timedelta or a number of seconds, not {value!r}.")


@dataclass(frozen=True)
class CookieSettings:
    """The attributes of the session cookie."""

    name: str = "session"
    domain: str | None = None
    path: str = "/"
    httponly: bool = True
    secure: bool = False
    samesite: str | None = None
    partitioned: bool = False

    def check(self) -> None:
        """Raise :class:`ConfigError` if browsers would refuse or weaken the cookie."""
        secure = self.secure or self.partitioned  # Partitioned forces Secure
        if (
            not self.name
            or self.name != self.name.strip()
            or any(c in self.name for c in ';=,"')
            or any(ord(c) < 32 or ord(c) == 127 for c in self.name)
        ):
            raise ConfigError(
                f"The cookie name {self.name!r} is not one browsers send back: use"
                " letters, digits and -_. in SESSION_COOKIE_NAME."
            )
        if self.samesite is not None and str(self.samesite).lower() not in _SAMESITE:
            raise ConfigError(
                f"SESSION_COOKIE_SAMESITE={self.samesite!r} is not a SameSite value:"
                " use 'Lax', 'Strict', 'None' or None."
            )
        if self.samesite is not None and str(self.samesite).lower() == "none" and not secure:
            raise ConfigError(
                "SESSION_COOKIE_SAMESITE='None' needs SESSION_COOKIE_SECURE=True:"
                " browsers reject SameSite=None cookies that are not Secure."
            )
        if self.name.startswith("__Host-"):
            if not secure:
                raise ConfigError(
                    f"The cookie name {self.name!r} starts with __Host-, which needs"
                    " SESSION_COOKIE_SECURE=True."
                )
            if self.domain:
                raise ConfigError(
                    f"The cookie name {self.name!r} starts with __Host-, which forbids a"
                    " Domain: set SESSION_COOKIE_DOMAIN=None."
                )
            if self.path != "/":
                raise ConfigError(
                    f"The cookie name {self.name!r} starts with __Host-, which needs"
                    f" Path=/: set SESSION_COOKIE_PATH='/' (it is {self.path!r})."
                )
        if self.name.startswith("__Secure-") and not secure:
            raise ConfigError(
                f"The cookie name {self.name!r} starts with __Secure-, which needs"
                " SESSION_COOKIE_SECURE=True."
            )


def check_keys(secret_key: t.Any, fallbacks: t.Any) -> None:
    """Raise :class:`ConfigError` for key settings that would misbehave silently
    or let anyone forge a cookie (an empty key)."""
    if secret_key is not None and not isinstance(secret_key, (str, bytes)):
        raise ConfigError(f"SECRET_KEY must be str or bytes, not {type(secret_key).__name__}.")
    if secret_key is not None and not secret_key:
        raise ConfigError(
            f"SECRET_KEY is empty. Generate one with {GENERATE_KEY}, or leave it None"
            " for no sessions at all."
        )
    if fallbacks is not None and not isinstance(fallbacks, (list, tuple)):
        raise ConfigError(
            "SECRET_KEY_FALLBACKS must be a list of old keys (oldest first), not"
            f" {type(fallbacks).__name__}: a single string would be read as one key"
            " per character. Write SECRET_KEY_FALLBACKS = [old_key]."
        )
    for key in fallbacks or ():
        if not isinstance(key, (str, bytes)):
            raise ConfigError(
                f"SECRET_KEY_FALLBACKS must hold str or bytes keys, not {type(key).__name__}."
            )
    require_keys(fallbacks or (), "SECRET_KEY_FALLBACKS")


def require_keys(keys: t.Iterable[t.Any], setting: str) -> None:
    """Raise :class:`ConfigError` if any of ``keys`` is empty.

    Every signer and sealer calls this, so that a configuration that skipped the
    start-up check still cannot sign or verify with an empty key: anyone can
    compute a signature under it (R43).
    """
    for i, key in enumerate(keys):
        if not key:
            raise ConfigError(
                f"{setting} holds an empty key (item {i}), which lets anyone forge a"
                " session cookie (an unset environment variable, as in"
                " [os.environ.get('OLD_KEY', '')]?)."
                f" Remove it, or set a real key: {GENERATE_KEY}."
            )


def check_key_strength(secret_key: t.Any, fallbacks: t.Any) -> None:
    """Raise :class:`ConfigError` if a key the security check rates weak is set (R43).

    Short keys are only reported by the check (``flask session check``), not
    refused. ``SESSION_ALLOW_WEAK_KEYS = True`` skips this, for tests.
    """
    named = [("SECRET_KEY", secret_key)] if secret_key is not None else []
    named += [(f"SECRET_KEY_FALLBACKS[{i}]", key) for i, key in enumerate(fallbacks or ())]
    for setting, key in named:
        weakness = key_weakness(key)
        if weakness is not None and weakness[0] == "weak":
            raise ConfigError(
                f"{setting} {weakness[1]}: anyone who guesses it can forge any session."
                f" Generate a key with {GENERATE_KEY} (SESSION_ALLOW_WEAK_KEYS = True"
                " accepts it, for tests only)."
            )


def check_settings(config: t.Mapping[str, t.Any]) -> None:
    """Check satchel's own settings in ``config``."""
    seconds(config.get("SESSION_ABSOLUTE_LIFETIME"), "SESSION_ABSOLUTE_LIFETIME")
    seconds(config.get("SESSION_REFRESH_MARGIN"), "SESSION_REFRESH_MARGIN")
    oversize = config.get("SESSION_COOKIE_OVERSIZE", "raise")
    if oversize not in ("raise", "warn"):
        raise ConfigError(f"SESSION_COOKIE_OVERSIZE={oversize!r} is not 'raise' or 'warn'.")
    cap = config.get("SESSION_MAX_PER_USER")
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
        raise ConfigError(f"SESSION_MAX_PER_USER must be a whole number >= 1 or None, not {cap!r}.")
    in_cookie = config.get("SESSION_ANONYMOUS_IN_COOKIE", False)
    if not isinstance(in_cookie, bool):
        raise ConfigError(f"SESSION_ANONYMOUS_IN_COOKIE must be True or False, not {in_cookie!r}.")
    encrypted = config.get("SESSION_COOKIE_ENCRYPTED", False)
    if not isinstance(encrypted, bool):
        raise ConfigError(f"SESSION_COOKIE_ENCRYPTED must be True or False, not {encrypted!r}.")
    for setting in ("SESSION_COOKIE_ENCRYPTED", "SESSION_STORE_ENCRYPTED"):
        if config.get(setting) and find_spec("cryptography") is None:
            raise missing("cryptography", f"{setting}=True")
    for flag in ("SESSION_COOKIE_ACCEPT_SIGNED", "SESSION_ALLOW_WEAK_KEYS"):
        if not isinstance(config.get(flag, DEFAULTS[flag]), bool):
            raise ConfigError(f"{flag} must be True or False, not {config.get(flag)!r}.")
    user_key = config.get("SESSION_USER_KEY", "_user_id")
    if not isinstance(user_key, str) or not user_key:
        raise ConfigError(
            f"SESSION_USER_KEY must be the session key naming the user, not {user_key!r}."
        )
    if not config.get("SESSION_ALLOW_WEAK_KEYS", False):
        check_key_strength(config.get("SECRET_KEY"), config.get("SECRET_KEY_FALLBACKS"))
