"""The demo app through Flask's test client: every route, logins, CSRF, revocation, the CLI.

The browser tests are in tests/test_demo_browser.py. The tests on ``app`` run
with the memory store, and again with the demo's default (SQLite) store once
that exists.
"""

from __future__ import annotations

import json
import re
import stat
import time
import typing as t
from pathlib import Path

import flask
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from satchel.demo import create_app
from satchel.demo.account import WRONG_CREDENTIALS, describe_agent
from satchel.demo.cli import main
from satchel.demo.models import DEMO_PASSWORD, DEMO_USER, User, db

from .demo_support import SID_COOKIE, STORES, seeded_instance, store_config

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15"
    " (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
LAPTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def instance(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    return seeded_instance(tmp_path_factory, tmp_path / "instance")


@pytest.fixture(params=STORES)
def app(request: pytest.FixtureRequest, instance: Path) -> Flask:
    return create_app(store_config(request.param), instance_path=instance)


def client_as(app: Flask, agent: str = LAPTOP) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = agent
    return client


def csrf_token(client: FlaskClient, page: str = "/login") -> str:
    html = client.get(page).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, f"no CSRF token on {page}"
    return match.group(1)


def log_in(
    client: FlaskClient,
    username: str = DEMO_USER,
    password: str = DEMO_PASSWORD,
    query: str = "",
) -> t.Any:
    token = csrf_token(client)
    return client.post(
        "/login" + query,
        data={"csrf_token": token, "username": username, "password": password},
    )


def logged_in(app: Flask, username: str = DEMO_USER, agent: str = LAPTOP) -> FlaskClient:
    client = client_as(app, agent)
    response = log_in(client, username)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.location == "/account"
    return client


def post_form(client: FlaskClient, path: str, **data: str) -> t.Any:
    return client.post(path, data={"csrf_token": csrf_token(client, "/account"), **data})


def other_handles(client: FlaskClient) -> list[str]:
    html = client.get("/account").get_data(as_text=True)
    return re.findall(r'name="handle" value="([0-9a-f]+)"', html)


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


# -- the article's routes -------------------------------------------------------


def test_hello_returns_the_wang_users_without_passwords(app: Flask) -> None:
    response = app.test_client().get("/user/hello")
    assert response.status_code == 200
    assert response.json == [
        {"id": 1, "username": "王天祥", "age": 22},
        {"id": 2, "username": "王小明", "age": 19},
    ]
    assert "password" not in response.get_data(as_text=True)
    assert "王天祥" in response.get_data(as_text=True)  # not \u738b...


def test_the_seeded_users_include_others_the_query_leaves_out(app: Flask) -> None:
    with app.app_context():
        names = {u.username for u in db.session.scalars(db.select(User))}
    assert {"王天祥", "王小明", "李雷", "韩梅梅", DEMO_USER} <= names


def test_passwords_are_stored_hashed(app: Flask) -> None:
    with app.app_context():
        users = list(db.session.scalars(db.select(User)))
        hashes = {user.password for user in users}
        assert len(hashes) == len(users)  # salted: no two alike
        for user in users:
            assert user.password.startswith(("scrypt:", "pbkdf2:"))
            assert DEMO_PASSWORD not in user.password
        assert users[0].check_password(DEMO_PASSWORD)
        assert not users[0].check_password(DEMO_PASSWORD + "x")


def test_get_session_without_a_session(app: Flask) -> None:
    response = app.test_client().get("/user/getSession")
    assert response.get_data(as_text=True) == "用户未登录!!!"
    assert session_cookie(app.test_client()) is None


def test_set_session_then_get_session(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/user/setSession").get_data(as_text=True) == "设置session成功!!!"
    # Nobody signed in: the session stays in the signed cookie (SESSION_ANONYMOUS_IN_COOKIE).
    assert not SID_COOKIE.fullmatch(session_cookie(client) or "")
    assert stored_sessions(app) == 0
    assert client.get("/user/getSession").get_data(as_text=True) == "STZZ"


def stored_sessions(app: Flask) -> int:
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    return sum(1 for _ in manager.store.scan(int(time.time())))


def test_anonymous_visitors_cost_the_store_nothing(app: Flask) -> None:
    for _ in range(300):
        response = app.test_client().get("/login")
        assert response.status_code == 200 and session_cookie_of(response)
    assert stored_sessions(app) == 0
    client = client_as(app)
    # log_in posts the CSRF token of the anonymous session, which only the
    # cookie holds: accepted, then the session moves to the store, bound.
    assert log_in(client).status_code == 302
    assert SID_COOKIE.fullmatch(session_cookie(client) or "")
    assert stored_sessions(app) == 1
    assert "Your sessions" in client.get("/account").get_data(as_text=True)
    assert post_form(client, "/logout").status_code == 302  # a CSRF token of the bound session
    assert stored_sessions(app) == 0


def session_cookie_of(response: t.Any) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith("session="):
            return str(header.split(";", 1)[0].split("=", 1)[1])
    return None


def test_set_session_by_post_needs_the_csrf_token(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/user/setSession").status_code == 400
    assert client.get("/user/getSession").get_data(as_text=True) == "用户未登录!!!"
    token = csrf_token(client)
    response = client.post("/user/setSession", headers={"X-CSRFToken": token})
    assert response.get_data(as_text=True) == "设置session成功!!!"
    assert client.get("/user/getSession").get_data(as_text=True) == "STZZ"


def test_index_links_everything(app: Flask) -> None:
    html = app.test_client().get("/").get_data(as_text=True)
    for path in ("/user/hello", "/user/setSession", "/user/getSession", "/login"):
        assert f'href="{path}"' in html


def test_pages_send_security_headers(app: Flask) -> None:
    response = app.test_client().get("/login")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert app.test_client().get("/static/demo.css").status_code == 200


def test_article_session_settings(app: Flask) -> None:
    assert app.config["SESSION_COOKIE_NAME"] == "session"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_REFRESH_EACH_REQUEST"] is True
    assert app.permanent_session_lifetime.days == 31


# -- logging in -----------------------------------------------------------------


def test_login_with_the_right_password(app: Flask) -> None:
    client = client_as(app)
    csrf_token(client)  # the login page starts an anonymous session, for its CSRF token
    before = session_cookie(client)
    assert before
    response = log_in(client)
    assert response.status_code == 302
    assert response.location == "/account"
    after = session_cookie(client)
    assert after and SID_COOKIE.fullmatch(after)
    assert after != before  # a new session id at login: fixation fails
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/"
    assert cookie.expires is not None  # permanent: kept for the 31 days
    html = client.get("/account").get_data(as_text=True)
    assert "Your sessions" in html and "this device" in html
    assert "Firefox 128 on Windows" in html


@pytest.mark.parametrize(
    ("username", "password"),
    [(DEMO_USER, "wrong"), ("nobody", DEMO_PASSWORD), ("nobody", "wrong"), ("STZZ", DEMO_PASSWORD)],
)
def test_wrong_password_and_unknown_user_get_the_same_answer(
    app: Flask, username: str, password: str
) -> None:
    client = client_as(app)
    response = log_in(client, username, password)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert WRONG_CREDENTIALS in html
    assert "Sign in" in html
    assert client.get("/account").status_code == 302  # still not logged in


def test_empty_login_form_is_re_rendered(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": DEMO_USER, "password": DEMO_PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/account").status_code == 302


def test_csrf_token_of_another_session_is_refused(app: Flask) -> None:
    token = csrf_token(app.test_client())
    client = app.test_client()
    csrf_token(client)  # a session of its own
    response = client.post(
        "/login", data={"csrf_token": token, "username": DEMO_USER, "password": DEMO_PASSWORD}
    )
    assert response.status_code == 400


def test_login_follows_a_local_next(app: Flask) -> None:
    response = log_in(client_as(app), query="?next=/user/getSession")
    assert response.location == "/user/getSession"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_login_ignores_a_foreign_next(app: Flask, target: str) -> None:
    response = log_in(client_as(app), query=f"?next={target}")
    assert response.location == "/account"


def test_login_page_redirects_when_logged_in(app: Flask) -> None:
    client = logged_in(app)
    assert client.get("/login").location == "/account"


def test_any_seeded_user_can_log_in(app: Flask) -> None:
    client = logged_in(app, "王天祥")
    assert "王天祥" in client.get("/account").get_data(as_text=True)


# -- the account page -------------------------------------------------------------


def test_account_needs_login(app: Flask) -> None:
    response = app.test_client().get("/account")
    assert response.status_code == 302
    assert response.location == "/login?next=/account"


def test_tampered_cookie_is_a_stranger(app: Flask) -> None:
    client = logged_in(app)
    value = session_cookie(client)
    assert value
    client.set_cookie("session", value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB"))
    response = client.get("/account")
    assert response.status_code == 302
    # It does not verify, so nothing says it was a session of ours: no "ended"
    # message, and it is left alone (R45: it may be another key's or app's).
    assert response.location == "/login?next=/account"
    assert response.headers.getlist("Set-Cookie") == []


def test_garbage_cookie_is_a_stranger(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("session", "not-a-session")
    assert client.get("/account").status_code == 302
    assert client.get("/user/getSession").get_data(as_text=True) == "用户未登录!!!"


def test_sessions_list_every_device_of_the_user_only(app: Flask) -> None:
    laptop = logged_in(app, agent=LAPTOP)
    logged_in(app, agent=PHONE)
    logged_in(app, "李雷", agent=PHONE)  # somebody else's: not listed
    html = laptop.get("/account").get_data(as_text=True)
    assert html.count("<tr") == 3  # header + 2 sessions
    assert "Safari 17 on iPhone" in html and "Firefox 128 on Windows" in html
    assert "127.0.0.1" in html
    assert html.count('data-current="yes"') == 1
    assert len(other_handles(laptop)) == 1


def test_revoked_session_lands_on_the_login_page(app: Flask) -> None:
    laptop = logged_in(app, agent=LAPTOP)
    phone = logged_in(app, agent=PHONE)
    phone.get("/user/setSession")
    [handle] = other_handles(laptop)
    response = post_form(laptop, "/account/revoke", handle=handle)
    assert response.location == "/account"
    assert "Signed out that session." in laptop.get("/account").get_data(as_text=True)
    assert other_handles(laptop) == []

    response = phone.get("/account")
    assert response.location == "/login?next=/account&ended=1"
    login_page = phone.get(response.location).get_data(as_text=True)
    assert "Your session has ended" in login_page
    assert phone.get("/user/getSession").get_data(as_text=True) == "用户未登录!!!"
    assert laptop.get("/account").status_code == 200  # the revoker stays


def test_cannot_revoke_somebody_elses_session(app: Flask) -> None:
    mine = logged_in(app)
    theirs = logged_in(app, "李雷")
    # Their handle, as a guess or a leak would give it: straight from the store.
    manager = app.session_interface.server_sessions(app)  # type: ignore[attr-defined]
    with app.app_context():
        their_id = db.session.scalar(db.select(User.id).filter_by(username="李雷"))
    [info] = manager.sessions_of(str(their_id))
    response = post_form(mine, "/account/revoke", handle=info.handle)
    assert response.location == "/account"
    assert "That session had already ended." in mine.get("/account").get_data(as_text=True)
    assert theirs.get("/account").status_code == 200


def test_revoke_an_unknown_handle(app: Flask) -> None:
    client = logged_in(app)
    post_form(client, "/account/revoke", handle="0" * 64)
    assert "already ended" in client.get("/account").get_data(as_text=True)


def test_sign_out_everywhere_else(app: Flask) -> None:
    laptop = logged_in(app, agent=LAPTOP)
    others = [logged_in(app, agent=PHONE) for _ in range(2)]
    bystander = logged_in(app, "李雷")
    assert "Sign out everywhere else" in laptop.get("/account").get_data(as_text=True)
    post_form(laptop, "/account/revoke-others")
    html = laptop.get("/account").get_data(as_text=True)
    assert "Signed out 2 other sessions." in html
    assert "Sign out everywhere else" not in html  # nothing else left
    for other in others:
        assert other.get("/account").location == "/login?next=/account&ended=1"
    assert bystander.get("/account").status_code == 200


def test_account_forms_need_the_csrf_token(app: Flask) -> None:
    laptop = logged_in(app)
    phone = logged_in(app, agent=PHONE)
    [handle] = other_handles(laptop)
    assert laptop.post("/account/revoke", data={"handle": handle}).status_code == 400
    assert laptop.post("/account/revoke-others").status_code == 400
    assert laptop.post("/logout").status_code == 400
    assert phone.get("/account").status_code == 200
    assert laptop.get("/account").status_code == 200


def test_account_actions_need_login(app: Flask) -> None:
    client = app.test_client()
    token = csrf_token(client)
    for path in ("/account/revoke", "/account/revoke-others"):
        response = client.post(path, data={"csrf_token": token, "handle": "x"})
        assert response.status_code == 302
        assert response.location.startswith("/login?next=")


def test_logout_ends_the_session_on_the_server(app: Flask) -> None:
    client = logged_in(app)
    old = session_cookie(client)
    response = post_form(client, "/logout")
    assert response.location == "/login?signed_out=1"
    assert session_cookie(client) is None
    assert "You are signed out." in client.get(response.location).get_data(as_text=True)
    replay = app.test_client()
    replay.set_cookie("session", old or "")
    assert replay.get("/account").location == "/login?next=/account&ended=1"


def test_logout_of_the_current_row(app: Flask) -> None:
    client = logged_in(app)
    html = client.get("/account").get_data(as_text=True)
    current = html.split('data-current="yes"', 1)[1].split("</tr>", 1)[0]
    assert 'action="/logout"' in current


@pytest.mark.parametrize(
    ("agent", "label"),
    [
        (PHONE, "Safari 17 on iPhone"),
        (LAPTOP, "Firefox 128 on Windows"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
            " HeadlessChrome/131.0.0.0 Safari/537.36",
            "Headless Chrome 131 on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like"
            " Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge 126 on macOS",
        ),
        ("curl/8.5.0", "curl 8.5.0"),
        ("", "Unknown device"),
        (None, "Unknown device"),
        ("x" * 60, "x" * 39 + "…"),
    ],
)
def test_device_names(agent: str | None, label: str) -> None:
    assert describe_agent(agent) == label


# -- the factory ------------------------------------------------------------------


def test_secret_key_is_generated_once_and_kept(instance: Path) -> None:
    key_file = instance / "secret_key"
    first = create_app({"SESSION_STORE": "memory://"}, instance_path=instance)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = create_app({"SESSION_STORE": "memory://"}, instance_path=instance)
    assert first.secret_key == second.secret_key == key_file.read_text().strip()
    assert len(str(first.secret_key)) == 64


def test_secret_key_is_fresh_per_instance(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    a = create_app({"SESSION_STORE": "memory://"}, instance_path=tmp_path / "a")
    b = create_app({"SESSION_STORE": "memory://"}, instance_path=tmp_path / "b")
    assert a.secret_key != b.secret_key


def test_config_overrides_win(instance: Path) -> None:
    key = "demo-override-secret-0123456789abcdef"
    app = create_app({"SESSION_STORE": "memory://", "SECRET_KEY": key}, instance_path=instance)
    assert app.secret_key == key


def test_default_paths_are_in_the_instance_folder(instance: Path) -> None:
    app = create_app({"SESSION_STORE": "memory://"}, instance_path=instance)
    assert app.instance_path == str(instance.resolve())
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance.resolve()}/users.db"
    assert (instance / "users.db").exists()


def test_default_session_store_is_sqlite_in_the_instance_folder(instance: Path) -> None:
    store_config("default")  # skips until satchel.stores.sqlite exists
    app = create_app(instance_path=instance)
    assert app.config["SESSION_STORE"] == f"sqlite:///{instance.resolve()}/sessions.db"
    client = logged_in(app)
    assert client.get("/account").status_code == 200
    assert (instance / "sessions.db").exists()


def test_default_instance_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from satchel.demo.app import default_instance_path

    monkeypatch.delenv("SATCHEL_DEMO_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_instance_path() == tmp_path / "satchel-demo"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_instance_path() == tmp_path / ".local" / "share" / "satchel-demo"
    monkeypatch.setenv("SATCHEL_DEMO_DIR", str(tmp_path / "here"))
    assert default_instance_path() == tmp_path / "here"


def test_flask_app_option_loads_the_factory(
    monkeypatch: pytest.MonkeyPatch, instance: Path
) -> None:
    # What `flask --app satchel.demo:create_app run` does to find the app.
    from flask.cli import ScriptInfo

    monkeypatch.setenv("SATCHEL_DEMO_DIR", str(instance))
    monkeypatch.setenv("FLASK_SESSION_STORE", "memory://")
    app = ScriptInfo(app_import_path="satchel.demo:create_app").load_app()
    assert app.config["SESSION_STORE"] == "memory://"
    assert app.test_client().get("/user/hello").status_code == 200


# -- the command ------------------------------------------------------------------


def test_cli_help() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--store", "--instance"):
        assert option in result.output


def test_cli_bare_shows_help() -> None:
    result = CliRunner().invoke(main, [])
    assert result.exit_code == 2
    assert "demo" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["demo", "--port", "0"], "--port"),
        (["demo", "--port", "http"], "--port"),
        (["demo", "--bogus"], "--bogus"),
        (["demo", "--store"], "--store"),
        (["nonsense"], "nonsense"),
    ],
)
def test_cli_wrong_arguments_are_one_line(args: list[str], says: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("satchel: error:") and says in lines[0]


def test_cli_bad_store_url_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--store", "no-url", "--instance", str(tmp_path / "i")]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "SESSION_STORE" in lines[0], result.output


def test_cli_starts_the_app_with_the_store(monkeypatch: pytest.MonkeyPatch, instance: Path) -> None:
    started: list[tuple[Flask, dict[str, t.Any]]] = []

    def run(self: Flask, **kwargs: t.Any) -> None:  # records instead of serving forever
        started.append((self, kwargs))

    monkeypatch.setattr(flask.Flask, "run", run)
    result = CliRunner().invoke(
        main,
        ["demo", "--store", "memory://", "--port", "5123", "--instance", str(instance)],
    )
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:5123/" in result.output
    assert f"sign in as {DEMO_USER}, password {DEMO_PASSWORD}" in result.output
    [(app, kwargs)] = started
    assert kwargs == {"host": "127.0.0.1", "port": 5123}
    assert app.config["SESSION_STORE"] == "memory://"
    assert json.loads(app.test_client().get("/user/hello").data)[0]["username"] == "王天祥"


def test_cli_port_in_use_is_one_line(monkeypatch: pytest.MonkeyPatch, instance: Path) -> None:
    def run(self: Flask, **kwargs: t.Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(flask.Flask, "run", run)
    result = CliRunner().invoke(main, ["demo", "--store", "memory://", "--instance", str(instance)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "satchel: error: cannot listen on 127.0.0.1:5000: Address already in use"
    )


# -- redirects: only to paths on this site (R48) -------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "///evil.example",
    "////evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "https://evil.example/",
    "http:evil.example",
    "http:/\\evil.example",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    " //evil.example",
    "\x00//evil.example",
    "\x1f/\\evil.example",
    "/\x00/evil.example",
    "\uff0f\uff0fevil.example",  # fullwidth solidi
    "/\u202e//evil.example",
    "/\u2028/evil.example",
    "/" + "a" * 5000,
    "",
]
# Tab, LF, CR (which browsers delete) and VT, NUL, DEL, in every position of "//evil.example".
HOSTILE_NEXT += [
    f"/{'/evil.example'[:i]}{c}{'/evil.example'[i:]}"
    for c in ("\t", "\n", "\r", "\r\n", "\x0b", "\x00", "\x7f")
    for i in range(4)
] + [f"{c}//evil.example{c}" for c in ("\t", "\n", "\r")]


def browser_reading(location: str) -> tuple[str, str]:
    """The (scheme, host) a browser at http://localhost/ goes to for this Location (WHATWG)."""
    from urllib.parse import urljoin, urlsplit

    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub("[\t\n\r]", "", cleaned).replace("\\", "/")
    target = urlsplit(urljoin("http://localhost/", cleaned))
    return target.scheme, target.netloc


def assert_same_site(response: t.Any) -> str:
    assert response.status_code == 302, response.status_code
    location = response.headers["Location"]
    assert not re.search(r"[\x00-\x20\x7f-\x9f\\]", location), repr(location)
    assert browser_reading(location) == ("http", "localhost"), repr(location)
    return str(location)


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_next_never_leaves_the_site(app: Flask, target: str) -> None:
    client = client_as(app)
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200
    # The form posts back without the hostile value.
    action = re.search(r'<form method="post" action="([^"]*)"', page.get_data(as_text=True))
    assert action and action.group(1) == "/login", action
    token = csrf_token(client)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": DEMO_USER, "password": DEMO_PASSWORD},
    )
    assert assert_same_site(response) == "/account"
    # Signed in already: /login sends the browser straight on, to the same place.
    assert assert_same_site(client.get("/login", query_string={"next": target})) == "/account"


def test_next_as_the_browser_sends_it(app: Flask) -> None:
    # The example, percent-encoded in the URL as an attacker's link has it.
    client = logged_in(app)
    for query in ("next=/%09/evil.example", "next=/%0d/evil", "next=/%0a/evil", "next=/%5Cevil"):
        assert assert_same_site(client.get(f"/login?{query}")) == "/account"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/user/getSession", "/user/getSession"),
        ("/user/getSession?x=1#top", "/user/getSession?x=1#top"),
        (" /user/getSession\n", "/user/getSession"),  # as a browser reads it
        ("/user/\tgetSession", "/user/getSession"),
        ("/user\\getSession", "/user/getSession"),
        ("/ünï", "/%C3%BCn%C3%AF"),
    ],
)
def test_next_keeps_paths_on_this_site(app: Flask, target: str, location: str) -> None:
    client = logged_in(app)
    assert assert_same_site(client.get("/login", query_string={"next": target})) == location


# -- failed sign-ins slow down ------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The throttle's clock, frozen; tests move it by changing ``clock[0]``."""
    from satchel.demo import throttle

    now = [1_700_000_000.0]
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    return now


def from_address(app: Flask, address: str) -> FlaskClient:
    client = client_as(app)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_failed_sign_ins_back_off_with_a_clear_wait(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import CAP, FREE

    client = from_address(app, "192.0.2.1")
    for _ in range(FREE):
        assert log_in(client, password="wrong").status_code == 401
    expected = 1
    for _ in range(12):
        refused = log_in(client)  # even the right password: it is not even checked
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == str(expected)
        assert refused.headers["Cache-Control"] == "no-store"
        html = refused.get_data(as_text=True)
        wait = f"{expected} second{'s' if expected > 1 else ''}"
        if expected >= 120:
            wait = f"{-(-expected // 60)} minutes"  # rounded up
        assert f"Too many failed sign-ins: try again in {wait}." in html
        clock[0] += expected - 0.5
        assert log_in(client).status_code == 429  # not yet
        clock[0] += 0.5
        assert log_in(client, password="wrong").status_code == 401
        expected = min(CAP, expected * 2)
    assert expected == CAP == 900  # the longest wait: 15 minutes
    assert client.get("/account").status_code == 302
    clock[0] += CAP
    assert log_in(client).location == "/account"


def test_unknown_names_are_throttled_alike(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import FREE

    answers = []
    for name in (DEMO_USER, "nobody"):
        client = from_address(app, f"192.0.2.{len(answers) + 10}")
        for _ in range(FREE):
            log_in(client, name, "wrong")
        answers.append(log_in(client, name, "wrong"))
    alerts = [re.findall(r'role="alert">([^<]*)<', r.get_data(as_text=True)) for r in answers]
    assert alerts[0] == alerts[1] == ["Too many failed sign-ins: try again in 1 second."]
    assert [(r.status_code, r.headers["Retry-After"]) for r in answers] == [(429, "1")] * 2


def test_one_client_guessing_many_accounts_is_throttled(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import FREE

    client = from_address(app, "192.0.2.2")
    for n in range(FREE):
        assert log_in(client, f"user{n}", "wrong").status_code == 401
    assert log_in(client, "李雷", DEMO_PASSWORD).status_code == 429
    # Another address is not held up by this one.
    assert log_in(from_address(app, "192.0.2.3"), "李雷").location == "/account"


def test_an_account_guessed_from_many_addresses(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import FREE

    for n in range(FREE + 2):
        assert log_in(from_address(app, f"198.51.100.{n}"), password="wrong").status_code == 401
    # An address that has failed before (at any account) now waits on this one...
    attacker = from_address(app, "198.51.100.200")
    assert log_in(attacker, "nobody", "wrong").status_code == 401
    assert log_in(attacker, DEMO_USER, DEMO_PASSWORD).status_code == 429
    assert log_in(from_address(app, "198.51.100.0"), DEMO_USER, "guess").status_code == 429
    # ...but the owner, from an address with no failures, is never locked out.
    owner = from_address(app, "203.0.113.9")
    assert log_in(owner).location == "/account"
    assert owner.get("/account").status_code == 200


def test_a_right_password_takes_back_only_its_own_attempt(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import FREE

    client = from_address(app, "192.0.2.4")
    for _ in range(FREE - 1):
        log_in(client, password="wrong")
    for _ in range(3):  # signing in again and again does not add up to a wait
        assert log_in(client).location == "/account"
        client.delete_cookie("session")
    assert log_in(client, password="wrong").status_code == 401
    assert log_in(client).status_code == 429  # the earlier failures still count


def test_failures_are_forgotten_after_an_hour(app: Flask, clock: list[float]) -> None:
    from satchel.demo.throttle import FORGET, FREE

    client = from_address(app, "192.0.2.5")
    for _ in range(FREE):
        log_in(client, password="wrong")
    assert log_in(client, password="wrong").status_code == 429
    clock[0] += FORGET
    for _ in range(FREE):
        assert log_in(client, password="wrong").status_code == 401
    assert log_in(client, password="wrong").status_code == 429


def test_parallel_guesses_get_no_extra_tries(app: Flask, clock: list[float]) -> None:
    import threading

    from satchel.demo.throttle import FREE

    clients = [from_address(app, "192.0.2.6") for _ in range(8)]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(len(clients))
    codes: list[int] = []

    def guess(client: FlaskClient, token: str) -> None:
        start.wait()
        data = {"csrf_token": token, "username": DEMO_USER, "password": "wrong"}
        codes.append(client.post("/login", data=data).status_code)

    pairs = zip(clients, tokens, strict=True)
    threads = [threading.Thread(target=guess, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [401] * FREE + [429] * (len(clients) - FREE)


def test_pages_made_from_the_session_are_never_cached(app: Flask) -> None:
    client = logged_in(app)
    for path in ("/", "/login", "/account", "/user/getSession", "/user/setSession"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path
    assert app.test_client().get("/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/demo.css").headers.get("Cache-Control", "")
