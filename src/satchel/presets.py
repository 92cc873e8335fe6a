"""Ready-made groups of settings.

:data:`HARDENED` is OWASP ASVS level 2 for sessions in one line::

    app.config.from_mapping(satchel.HARDENED)   # before Satchel(app)

It leaves ``SECRET_KEY`` to you (32 random bytes or more, e.g.
``secrets.token_hex(32)``), and gives a configuration that
``flask session check`` passes:

* ``Secure``, ``HttpOnly`` and ``SameSite=Lax``;
* the name ``__Host-sid``: generic, and its prefix makes browsers insist on
  Secure, ``Path=/`` and no Domain, so a sibling subdomain cannot plant or
  shadow the cookie;
* an encrypted cookie (with a server store, the cookie holds an id only and
  encrypting it changes nothing; keep it or not), and signed cookies no
  longer accepted (an app switching from signed cookies logs its users out
  once; set ``SESSION_COOKIE_ACCEPT_SIGNED = True`` for a migration window);
* a 12-hour absolute lifetime and a 30-minute idle lifetime (NIST SP 800-63B
  AAL2).

The idle lifetime is Flask's ``PERMANENT_SESSION_LIFETIME``: it counts from
the last time the cookie was written. Flask rewrites it on every request only
for permanent sessions (``SESSION_REFRESH_EACH_REQUEST``), so set
``session.permanent = True`` at login; a non-permanent session that is only
read expires 30 minutes after its last change, however active its user.

The site must be served over HTTPS (browsers also accept Secure cookies from
``http://localhost``). Override any value after applying the preset.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta
from types import MappingProxyType

#: Secure, HttpOnly, SameSite=Lax, a ``__Host-`` name, an encrypted cookie
#: (signed ones refused), 12 h absolute and 30 min idle lifetimes.
HARDENED: t.Mapping[str, t.Any] = MappingProxyType(
    {
        "SESSION_COOKIE_NAME": "__Host-sid",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_COOKIE_ENCRYPTED": True,
        "SESSION_COOKIE_ACCEPT_SIGNED": False,
        "SESSION_ABSOLUTE_LIFETIME": timedelta(hours=12),
        "PERMANENT_SESSION_LIFETIME": timedelta(minutes=30),
        "SESSION_REFRESH_EACH_REQUEST": True,
    }
)
