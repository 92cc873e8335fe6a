"""The application factory of the demo: the article's user service on satchel.

Everything lives in one instance folder (see :func:`default_instance_path`):
``users.db`` (Flask-SQLAlchemy, the article's ``User`` table),
``sessions.db`` (satchel's SQLite session store) and ``secret_key``
(generated on first start, so restarts do not log anybody out).
"""

from __future__ import annotations

import os
import secrets
import typing as t
from datetime import timedelta
from pathlib import Path

from flask import Flask, request
from flask_wtf import CSRFProtect
from werkzeug.wrappers import Response

from ..flask import Satchel
from .account import account_bp
from .models import DEMO_PASSWORD, db, seed
from .user import user_bp


def default_instance_path() -> Path:
    """Where the demo keeps its files: ``$SATCHEL_DEMO_DIR``, else
    ``$XDG_DATA_HOME/satchel-demo`` (``~/.local/share/satchel-demo``)."""
    if os.environ.get("SATCHEL_DEMO_DIR"):
        return Path(os.environ["SATCHEL_DEMO_DIR"])
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "satchel-demo"


def load_secret_key(instance: Path) -> str:
    """The key in ``instance/secret_key``, created (256 random bits, mode 0600) if absent."""
    path = instance / "secret_key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise RuntimeError(
                f"{path} holds no usable key: delete it to make a new one."
            ) from None
        return key
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key


def create_app(
    config: t.Mapping[str, t.Any] | None = None,
    *,
    instance_path: str | os.PathLike[str] | None = None,
) -> Flask:
    """Build the demo app.

    :param config: settings overriding the demo's, e.g.
        ``{"SESSION_STORE": "memory://"}``; ``FLASK_``-prefixed environment
        variables (``FLASK_SESSION_STORE=memory://``) override them too.
    :param instance_path: the folder for the databases and the secret key;
        :func:`default_instance_path` when None.
    """
    instance = Path(instance_path or default_instance_path()).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, instance_path=str(instance))
    overrides = dict(config or {})
    app.config.update(
        # The article's session settings, plus SameSite=Lax.
        SESSION_COOKIE_NAME="session",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_PATH=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=False,  # the demo is served over plain http on loopback
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=True,
        PERMANENT_SESSION_LIFETIME=timedelta(days=31),
        # satchel: sessions on the server, with their devices for the account page.
        SESSION_STORE=f"sqlite:///{instance / 'sessions.db'}",
        SESSION_RECORD_DEVICE=True,
        # Visitors who have not signed in (every GET /login stores a CSRF token)
        # keep their session in the signed cookie: no row until they sign in.
        SESSION_ANONYMOUS_IN_COOKIE=True,
        # However active, a session ends 31 days after it began (NIST's 12 h suits
        # banking; a demo can be kinder). satchel's start-up check asks for one.
        SESSION_ABSOLUTE_LIFETIME=timedelta(days=31),
        # "Last seen" on the account page is exact to this much (the default,
        # a tenth of the lifetime, would be three days).
        SESSION_REFRESH_MARGIN=timedelta(minutes=1),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{instance / 'users.db'}",
        DEMO_PASSWORD=DEMO_PASSWORD,
    )
    # FLASK_SESSION_STORE=memory:// and the like, for `flask --app satchel.demo:create_app run`.
    app.config.from_prefixed_env()
    app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(instance)
    # JSON as the article shows it: 王天祥 rather than \u738b..., fields in marshal order.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    db.init_app(app)
    CSRFProtect(app)
    Satchel(app)
    app.register_blueprint(user_bp)
    app.register_blueprint(account_bp)
    app.after_request(_security_headers)
    with app.app_context():
        seed(app.config["DEMO_PASSWORD"])
    return app


def _security_headers(response: Response) -> Response:
    # Styles come from /static only, so nothing injected into a page can run.
    response.headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    # Every page but the static files is made from the session (the header names
    # the user; forms carry its CSRF token; the account page lists its devices), so
    # no cache, shared or the browser's own, may keep it.
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
