"""Logging in and out, and the account page listing the user's sessions.

Everything session-related goes through satchel's API: ``satchel.login`` at
login (a new session id, bound to the user, with the device recorded),
``satchel.logout``, ``satchel.sessions_of``, ``satchel.revoke`` and
``satchel.revoke_user``. Every form carries a CSRF token (``CSRFProtect`` in
:mod:`.app` rejects a POST without one with a 400).
"""

from __future__ import annotations

import math
import re
import secrets
import typing as t
from datetime import datetime, timezone
from functools import lru_cache

from flask import (
    Blueprint,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from .. import flask as satchel  # the public API: satchel.login, satchel.revoke, ...
from . import throttle
from .models import User, db, find_user
from .redirects import same_site_path

account_bp = Blueprint("account", __name__)

#: One message for an unknown user and a wrong password: no user enumeration.
WRONG_CREDENTIALS = "Wrong username or password."


class LoginForm(FlaskForm):  # type: ignore[misc]
    """Username and password; Flask-WTF adds the CSRF token."""

    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def current_user() -> User | None:
    """The logged-in user of this request, if any."""
    if "user" not in g:
        user_id = session.get("user_id")
        g.user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    return t.cast("User | None", g.user)


@account_bp.app_context_processor
def _inject_user() -> dict[str, t.Any]:
    # Every page's header shows who is signed in.
    return {"user": current_user()}


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def _to_login() -> Response:
    """Send an anonymous visitor to the login page, and back here afterwards."""
    # ``stale``: the request carried a session cookie that names no live
    # session (revoked, logged out elsewhere or expired), so say so.
    ended = 1 if getattr(session, "stale", False) else None
    return redirect(url_for("account.login", next=same_site_path(request.path), ended=ended))


def _next_url() -> str:
    """Where to go after logging in: ``?next=`` if it is a path on this site."""
    return _next_path() or url_for("account.account")


@account_bp.route("/")
def index() -> str:
    """The home page: what the demo has, and who is logged in."""
    return render_template("index.html")


@account_bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """Show the login form; log in on a right username and password."""
    if request.method == "GET" and current_user() is not None:
        return redirect(_next_url())
    form = LoginForm()
    if not form.validate_on_submit():
        return _login_page(form, None, 400 if form.is_submitted() else 200)
    client, name = request.remote_addr or "unknown", form.username.data
    wait = throttle.begin(client, name)
    if wait:
        # Unknown names are throttled alike: a 429 tells nothing about who exists.
        page = _login_page(form, throttle.wait_message(wait), 429)
        page.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return page
    user = find_user(name)
    if user is None:
        # Check a password anyway so an unknown name answers as slowly as a
        # known one: the time taken does not tell which names exist.
        check_password_hash(_dummy_hash(), form.password.data)
    elif user.check_password(form.password.data):
        throttle.succeeded(client, name)
        session.clear()  # nothing of the anonymous session carries over
        session["user_id"] = user.id
        session.permanent = True
        satchel.login(user.id)  # a new session id, bound to the user
        return redirect(_next_url())
    return _login_page(form, WRONG_CREDENTIALS, 401)


def _next_path() -> str | None:
    return same_site_path(request.args.get("next"))


def _login_page(form: LoginForm, error: str | None, status: int) -> Response:
    # The form posts back to itself with ``next`` only if it is a path on this site.
    page = render_template("login.html", form=form, error=error, next_path=_next_path())
    return make_response(page, status)


@account_bp.route("/logout", methods=["POST"])
def logout() -> Response:
    """End this session, on the server too."""
    satchel.logout()
    return redirect(url_for("account.login", signed_out=1))


@account_bp.route("/account")
def account() -> Response | str:
    """The user's sessions, with a button to end each."""
    user = current_user()
    if user is None:
        return _to_login()
    return render_template("account.html", user=user, sessions=satchel.sessions_of(user.id))


@account_bp.route("/account/revoke", methods=["POST"])
def revoke() -> Response:
    """Sign out one of the user's other sessions (only ever one of theirs)."""
    user = current_user()
    if user is None:
        return _to_login()
    if satchel.revoke(request.form.get("handle", ""), user.id):
        flash("Signed out that session.")
    else:
        flash("That session had already ended.")
    return redirect(url_for("account.account"))


@account_bp.route("/account/revoke-others", methods=["POST"])
def revoke_others() -> Response:
    """Sign out every session of the user but this one."""
    user = current_user()
    if user is None:
        return _to_login()
    ended = satchel.revoke_user(user.id, keep_current=True)
    flash(f"Signed out {ended} other session{'' if ended == 1 else 's'}.")
    return redirect(url_for("account.account"))


# -- how sessions are shown ----------------------------------------------------

_BROWSERS = (
    ("Edge", r"Edg(?:e|A|iOS)?/(\d+)"),
    ("Opera", r"OPR/(\d+)"),
    ("Firefox", r"Firefox/(\d+)"),
    ("Headless Chrome", r"HeadlessChrome/(\d+)"),
    ("Chrome", r"(?:Chrome|CriOS)/(\d+)"),
    ("Safari", r"Version/(\d+)[.\d]* (?:Mobile/\S+ )?Safari/"),
    ("curl", r"curl/([\d.]+)"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("macOS", "Macintosh"),
    ("ChromeOS", "CrOS"),
    ("Linux", "Linux"),
)


@account_bp.app_template_filter("device")
def describe_agent(agent: str | None) -> str:
    """A short name for a user agent: "Firefox 128 on Windows"."""
    if not agent:
        return "Unknown device"
    browser = next(
        (f"{name} {m.group(1)}" for name, rx in _BROWSERS if (m := re.search(rx, agent))), None
    )
    system = next((name for name, token in _SYSTEMS if token in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (agent if len(agent) <= 40 else agent[:39] + "…")


@account_bp.app_template_filter("when")
def format_time(epoch: int) -> str:
    """An epoch time as "2025-01-01 12:00 UTC"."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
