"""The application factory of the demo."""

from __future__ import annotations

import secrets
import typing as t
from datetime import timedelta

from flask import Blueprint, Flask, session

from ..flask import Satchel

user_bp = Blueprint("user", __name__, url_prefix="/user")


@user_bp.route("/setSession", methods=["GET", "POST"])
def set_session() -> str:
    session["name"] = "STZZ"
    return "设置session成功!!!"


@user_bp.route("/getSession")
def get_session() -> str:
    name = session.get("name")
    return str(name) if name else "用户未登录!!!"


def create_app(config: t.Mapping[str, t.Any] | None = None) -> Flask:
    """Build the demo app; ``config`` overrides its settings."""
    app = Flask(__name__)
    app.config.update(
        # A fresh key per start: the demo's sessions end when it stops.
        SECRET_KEY=secrets.token_hex(32),
        # The article's session settings.
        SESSION_COOKIE_NAME="session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_REFRESH_EACH_REQUEST=True,
        PERMANENT_SESSION_LIFETIME=timedelta(days=31),
    )
    app.config.update(config or {})
    app.register_blueprint(user_bp)
    Satchel(app)
    return app
