"""The security check of the session configuration.

:func:`run_checks` reads a settings mapping (``app.config``, or any mapping
with Flask's and satchel's setting names) and returns what it finds unsafe,
each :class:`Finding` with a stable code, a message and the setting that fixes
it. ``flask session check`` prints them, and ``Satchel(app)`` logs them once at
start-up on the ``satchel.checks`` logger.

The codes, most serious first:

===========================  ==================================================
``secret-missing``           no ``SECRET_KEY``: no session works at all
``secret-weak``              a well-known (``"dev"``, ``"secret"``, ``"changeme"``, the
                             examples in Flask's docs...) or repetitive ``SECRET_KEY``
``secret-short``             a ``SECRET_KEY`` under 32 bytes
``fallback-weak``            a key in ``SECRET_KEY_FALLBACKS`` that is one of those
``fallback-is-current``      ``SECRET_KEY_FALLBACKS`` contains ``SECRET_KEY``
``cookie-not-secure``        Secure off (not reported when ``debug`` is true)
``cookie-not-httponly``      HttpOnly off
``samesite-unset``           no SameSite attribute
``payload-readable``         a signed-only cookie, which anyone holding it can read
``signed-accepted``          an encrypted cookie that still accepts signed ones
                             (``SESSION_COOKIE_ACCEPT_SIGNED``)
``no-absolute-lifetime``     no ``SESSION_ABSOLUTE_LIFETIME``
``cookie-name-fingerprint``  a framework's default cookie name, which tells
                             attackers what the site runs
``setting-unknown``          a ``SESSION_*`` setting neither satchel nor Flask
                             reads (a typo such as ``SESSION_STORE_URL``), with
                             the closest known name
===========================  ==================================================

:data:`satchel.HARDENED` sets every recommended value at once.

Nothing here imports Flask.
"""

from __future__ import annotations

import difflib
import logging
import typing as t
from dataclasses import asdict, dataclass

#: Where the start-up report goes; silence it with
#: ``logging.getLogger("satchel.checks").setLevel(logging.ERROR)``.
logger = logging.getLogger("satchel.checks")

#: Shortest ``SECRET_KEY`` not reported, in bytes (``secrets.token_hex()`` gives 64).
MIN_SECRET_BYTES = 32
#: A key with fewer distinct characters than this is reported as weak.
MIN_DISTINCT_CHARACTERS = 8

#: Secrets found in tutorials, docs and default configs, compared after
#: lower-casing and dropping everything but letters and digits.
WELL_KNOWN_SECRETS: frozenset[str] = frozenset(
    {
        "dev", "development", "devkey", "devsecret", "devsecretkey", "debug",
        "secret", "secretkey", "secrets", "mysecret", "mysecretkey", "yoursecret",
        "yoursecretkey", "supersecret", "supersecretkey", "topsecret", "verysecret",
        "verysecretkey", "thisisasecret", "thisismysecret", "thisisasecretkey",
        "notasecret", "notsecret", "nosecret", "keepitsecret", "keepitsecretkeepitsafe",
        "changeme", "changethis", "changeit", "changemeplease", "pleasechangeme",
        "replaceme", "replacethis", "todo", "fixme", "password", "passw0rd", "pass",
        "default", "defaultkey", "defaultsecret", "defaultsecretkey", "test", "testing",
        "testkey", "testsecret", "key", "mykey", "flask", "flasksecret", "flasksecretkey",
        "flaskkey", "insecure", "unsafe", "hardtoguessstring", "hardtoguess",
        "youwillneverguess", "abc123", "123456", "12345678", "1234567890", "qwerty",
        "admin", "s3cr3t", "sekrit", "example", "sample", "foo", "bar", "foobar",
        "xxx", "none", "null",
    }
)  # fmt: skip

#: Keys printed verbatim in Flask's documentation (the tutorial and the quickstart).
DOCUMENTED_SECRETS: frozenset[bytes] = frozenset(
    {
        b'_5#y2L"F4Q8z\n\xec]/',
        b"192b9bdd22ab9ed4d12e236c78afcb9a393ec15f71bbf5dc987d54727823bcbf",
    }
)

#: Default session cookie names of common frameworks, lower-cased.
FINGERPRINT_NAMES: frozenset[str] = frozenset(
    {
        "session",  # Flask
        "sessionid",  # Django
        "phpsessid",  # PHP
        "jsessionid",  # Java servlets
        "asp.net_sessionid",  # ASP.NET
        "connect.sid",  # Express
        "laravel_session",  # Laravel
        "rack.session",  # Rack / Sinatra
        "_session_id",  # Rails
        "ci_session",  # CodeIgniter
        "cfid",  # ColdFusion
        "cftoken",
        "beaker.session.id",  # Pylons / Beaker
        "express:sess",  # cookie-session
        "koa.sess",  # Koa
    }
)

#: How much a finding matters, most first.
SEVERITIES = ("high", "medium", "low")

_GENERATE = "a random value: python -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class Finding:
    """One problem in the session configuration."""

    #: Stable identifier, such as ``"secret-weak"``.
    code: str
    #: ``"high"``, ``"medium"`` or ``"low"``.
    severity: str
    #: What is wrong and why it matters.
    message: str
    #: What to set to fix it.
    fix: str

    def format(self) -> str:
        """One finding as two lines of text."""
        return f"[{self.severity}] {self.code}: {self.message}\n    set: {self.fix}"

    def as_dict(self) -> dict[str, str]:
        """The finding as a JSON-ready dict."""
        return asdict(self)


def _as_bytes(key: t.Any) -> bytes | None:
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    return None


def key_weakness(key: t.Any) -> tuple[str, str] | None:
    """``("weak" | "short", reason)`` if ``key`` should not be a secret key, else None."""
    raw = _as_bytes(key)
    if raw is None:
        return "weak", f"is a {type(key).__name__}, not str or bytes"
    if not raw:
        return "weak", "is empty"
    text = raw.decode("utf-8", "replace")
    normalized = "".join(c for c in text.lower() if c.isalnum())
    if raw in DOCUMENTED_SECRETS:
        return "weak", "is the example key printed in Flask's documentation"
    if normalized in WELL_KNOWN_SECRETS or not normalized:
        return "weak", f"is a well-known value ({text[:20]!r})"
    if len(set(raw)) < MIN_DISTINCT_CHARACTERS:
        return "weak", f"has only {len(set(raw))} distinct characters"
    if len(raw) < MIN_SECRET_BYTES:
        return "short", f"is {len(raw)} bytes long, under {MIN_SECRET_BYTES}"
    return None


def _secret_findings(config: t.Mapping[str, t.Any]) -> list[Finding]:
    findings = []
    secret = config.get("SECRET_KEY")
    if not secret:
        findings.append(
            Finding(
                "secret-missing",
                "high",
                "SECRET_KEY is not set: sessions cannot be saved (Flask gives a null session).",
                f"SECRET_KEY = {_GENERATE}",
            )
        )
    else:
        weakness = key_weakness(secret)
        if weakness is not None:
            kind, reason = weakness
            findings.append(
                Finding(
                    f"secret-{kind}",
                    "high",
                    f"SECRET_KEY {reason}: whoever guesses it can forge or read any session.",
                    f"SECRET_KEY = {_GENERATE}",
                )
            )
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or ()
    if not isinstance(fallbacks, (list, tuple)):
        return findings  # the start-up check reports that one as an error
    for i, old in enumerate(fallbacks):
        weakness = key_weakness(old)
        if weakness is not None:
            findings.append(
                Finding(
                    "fallback-weak",
                    "high",
                    f"SECRET_KEY_FALLBACKS[{i}] {weakness[1]}: fallback keys still open"
                    " sessions, so a guessable one lets anyone forge them.",
                    f"SECRET_KEY_FALLBACKS without item {i}",
                )
            )
    current = _as_bytes(secret)
    if current and any(_as_bytes(old) == current for old in fallbacks):
        findings.append(
            Finding(
                "fallback-is-current",
                "medium",
                "SECRET_KEY_FALLBACKS contains SECRET_KEY: fallbacks are for old keys only;"
                " this usually means a rotation was half done and the old key is still current.",
                "SECRET_KEY_FALLBACKS = [old keys only], and SECRET_KEY = the new key",
            )
        )
    return findings


def run_checks(config: t.Mapping[str, t.Any], *, debug: bool = False) -> list[Finding]:
    """Every finding about the session settings in ``config``, most serious first.

    :param config: Flask-style settings (``SECRET_KEY``, ``SESSION_COOKIE_*``, ...);
        missing ones count as Flask's and satchel's defaults.
    :param debug: whether the app runs in debug mode, where a cookie without
        Secure is expected (local HTTP) and not reported.
    """
    findings = _secret_findings(config)
    secure = bool(config.get("SESSION_COOKIE_SECURE")) or bool(
        config.get("SESSION_COOKIE_PARTITIONED")
    )
    if not secure and not debug:
        findings.append(
            Finding(
                "cookie-not-secure",
                "medium",
                "The session cookie is sent over plain HTTP too (Secure is off), where anyone"
                " on the network can steal it.",
                "SESSION_COOKIE_SECURE = True, and serve the site over HTTPS only",
            )
        )
    if not config.get("SESSION_COOKIE_HTTPONLY", True):
        findings.append(
            Finding(
                "cookie-not-httponly",
                "medium",
                "Scripts can read the session cookie (HttpOnly is off): one XSS bug steals it.",
                "SESSION_COOKIE_HTTPONLY = True",
            )
        )
    if config.get("SESSION_COOKIE_SAMESITE") is None:
        findings.append(
            Finding(
                "samesite-unset",
                "medium",
                "The session cookie has no SameSite attribute, so browsers may send it on"
                " requests other sites start (CSRF).",
                "SESSION_COOKIE_SAMESITE = 'Lax'",
            )
        )
    if not config.get("SESSION_COOKIE_ENCRYPTED") and not config.get("SESSION_STORE"):
        findings.append(
            Finding(
                "payload-readable",
                "medium",
                "The session cookie is signed, not encrypted: anyone holding it reads its"
                " content with a base64 decoder.",
                "SESSION_COOKIE_ENCRYPTED = True, or keep sessions server-side (SESSION_STORE)",
            )
        )
    if (
        config.get("SESSION_COOKIE_ENCRYPTED")
        and not config.get("SESSION_STORE")
        and config.get("SESSION_COOKIE_ACCEPT_SIGNED", True)
    ):
        findings.append(
            Finding(
                "signed-accepted",
                "medium",
                "The cookie is encrypted but a signed (readable) cookie is still accepted and"
                " re-issued sealed: a migration window, in which a forged or stolen signed"
                " cookie still opens.",
                "SESSION_COOKIE_ACCEPT_SIGNED = False once users' signed cookies have been"
                " re-issued (one idle lifetime after turning encryption on)",
            )
        )
    if config.get("SESSION_ABSOLUTE_LIFETIME") is None:
        findings.append(
            Finding(
                "no-absolute-lifetime",
                "medium",
                "A session lives forever as long as it is used: a stolen cookie kept busy"
                " never expires.",
                "SESSION_ABSOLUTE_LIFETIME = timedelta(hours=12)",
            )
        )
    name = str(config.get("SESSION_COOKIE_NAME", "session"))
    bare = name.removeprefix("__Host-").removeprefix("__Secure-")
    if bare.lower() in FINGERPRINT_NAMES:
        findings.append(
            Finding(
                "cookie-name-fingerprint",
                "low",
                f"The cookie name {name!r} is a framework's default, which tells attackers"
                " what the site runs.",
                "SESSION_COOKIE_NAME = '__Host-sid' (with Secure), or another generic name",
            )
        )
    findings.extend(_unknown_settings(config))
    findings.sort(key=lambda f: SEVERITIES.index(f.severity))
    return findings


#: The ``SESSION_*`` settings Flask itself reads; satchel's are ``config.DEFAULTS``.
FLASK_SETTINGS = frozenset(
    {
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_PATH",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
        "SESSION_COOKIE_PARTITIONED",
        "SESSION_REFRESH_EACH_REQUEST",
    }
)


def _unknown_settings(config: t.Mapping[str, t.Any]) -> list[Finding]:
    # A misspelt setting is silently ignored otherwise: SESSION_STORE_URL keeps
    # every session in the cookie, SESSION_COOKIE_ENCRYPT leaves it readable.
    from .config import DEFAULTS  # config imports this module

    known = FLASK_SETTINGS | DEFAULTS.keys()
    findings = []
    for name in sorted(k for k in config if isinstance(k, str) and k.startswith("SESSION_")):
        if name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        findings.append(
            Finding(
                "setting-unknown",
                "medium",
                f"{name} is not a setting satchel or Flask reads, so it has no effect"
                " (settings of other session libraries, such as Flask-Session's"
                " SESSION_TYPE, are ignored too).",
                f"{close[0]}, if that was meant" if close else "remove it",
            )
        )
    return findings


def log_findings(config: t.Mapping[str, t.Any], *, debug: bool = False, app: str = "app") -> None:
    """Log every finding as one WARNING record on :data:`logger` (nothing if none).

    satchel calls this once per app at start-up. Logging rather than
    ``warnings.warn``: it reaches the app's log handlers in production, where
    warnings are usually not shown, and test suites do not fail on it.
    """
    findings = run_checks(config, debug=debug)
    if not findings:
        return
    lines = "\n".join(f.format() for f in findings)
    logger.warning(
        "satchel: %d finding(s) in the session settings of %r (`flask session check`"
        " lists them; satchel.HARDENED sets every recommended value):\n%s",
        len(findings),
        app,
        lines,
    )
