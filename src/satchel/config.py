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
    accepted and re-issued sealed.
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
}

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
    """Raise :class:`ConfigError` for key settings that would misbehave silently."""
    if secret_key is not None and not isinstance(secret_key, (str, bytes)):
        raise ConfigError(f"SECRET_KEY must be str or bytes, not {type(secret_key).__name__}.")
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


def check_settings(config: t.Mapping[str, t.Any]) -> None:
    """Check satchel's own settings in ``config``."""
    seconds(config.get("SESSION_ABSOLUTE_LIFETIME"), "SESSION_ABSOLUTE_LIFETIME")
    seconds(config.get("SESSION_REFRESH_MARGIN"), "SESSION_REFRESH_MARGIN")
    oversize = config.get("SESSION_COOKIE_OVERSIZE", "raise")
    if oversize not in ("raise", "warn"):
        raise ConfigError(f"SESSION_COOKIE_OVERSIZE={oversize!r} is not 'raise' or 'warn'.")
    encrypted = config.get("SESSION_COOKIE_ENCRYPTED", False)
    if not isinstance(encrypted, bool):
        raise ConfigError(f"SESSION_COOKIE_ENCRYPTED must be True or False, not {encrypted!r}.")
    for setting in ("SESSION_COOKIE_ENCRYPTED", "SESSION_STORE_ENCRYPTED"):
        if config.get(setting) and find_spec("cryptography") is None:
            raise missing("cryptography", f"{setting}=True")
