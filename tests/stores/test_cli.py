"""``flask session ...`` against a populated store, for every store."""

from __future__ import annotations

import json
import typing as t
import unicodedata
from urllib.parse import quote

import pytest
from flask import Flask, session

import satchel
from satchel import Satchel
from satchel.stores import Record, Store

from ..conftest import Clock, cookie_of

SECRET = "cli-secret-0123456789abcdef0123456789"


def make_app(store: Store, clock: Clock) -> Flask:
    app = Flask("cli_app")
    app.config.update({"SECRET_KEY": SECRET, "SESSION_STORE": store, "SESSION_RECORD_DEVICE": True})
    Satchel(app, clock=clock)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        session["cart"] = ["book", "pen"]
        satchel.login(user)
        return "ok"

    @app.route("/browse")
    def browse() -> str:
        session["seen"] = "home"
        return "ok"

    @app.route("/whoami")
    def whoami() -> str:
        return str(session.get("user", "anonymous"))

    return app


def run(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(args=["session", *args])


@pytest.fixture
def populated(store: Store, clock: Clock) -> tuple[Flask, dict[str, t.Any]]:
    app = make_app(store, clock)
    clients: dict[str, t.Any] = {}
    for name in ("alice-laptop", "alice-phone", "bob"):
        client = app.test_client()
        client.environ_base["HTTP_USER_AGENT"] = name
        client.get(f"/login/{name.split('-')[0]}")
        clients[name] = client
    anonymous = app.test_client()
    anonymous.get("/browse")
    clients["anonymous"] = anonymous
    return app, clients


def test_stats(populated: tuple[Flask, dict[str, t.Any]]) -> None:
    app, _ = populated
    result = run(app, "stats", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["sessions"] == 4 and stats["anonymous"] == 1 and stats["users"] == 2
    assert stats["top_users"] == {"alice": 2, "bob": 1}
    assert stats["expiring_within"]["sessions"] == 0
    text = run(app, "stats")
    assert "4 (1 anonymous, 2 users)" in text.output


def test_list_and_show(populated: tuple[Flask, dict[str, t.Any]]) -> None:
    app, clients = populated
    listed = json.loads(run(app, "list", "--user", "alice", "--json").output)
    assert sorted(d["user_agent"] for d in listed) == ["alice-laptop", "alice-phone"]
    everyone = run(app, "list")
    assert everyone.exit_code == 0 and "4 session(s)" in everyone.output
    assert "alice-phone" in everyone.output
    cookie = clients["bob"].get_cookie("session")
    assert cookie is not None and cookie.value.split(".")[0] not in everyone.output  # no ids
    handle = json.loads(run(app, "list", "--user", "bob", "--json").output)[0]["handle"]
    shown = json.loads(run(app, "show", handle, "--json").output)
    assert shown["data"] == {"user": "bob", "cart": ["book", "pen"]}
    assert shown["user"] == "bob" and shown["user_agent"] == "bob"
    assert "cart = ['book', 'pen']" in run(app, "show", handle).output


def test_revoke_one_a_user_and_all(populated: tuple[Flask, dict[str, t.Any]]) -> None:
    app, clients = populated
    phone = next(
        d["handle"]
        for d in json.loads(run(app, "list", "--user", "alice", "--json").output)
        if d["user_agent"] == "alice-phone"
    )
    assert run(app, "revoke", phone).output.strip() == "revoked 1 session"
    assert clients["alice-phone"].get("/whoami").text == "anonymous"
    assert clients["alice-laptop"].get("/whoami").text == "alice"
    assert "revoked 1 session(s) of 'alice'" in run(app, "revoke", "--user", "alice").output
    assert clients["alice-laptop"].get("/whoami").text == "anonymous"
    assert run(app, "revoke", "--all").output.strip() == "revoked 2 session(s)"
    assert clients["bob"].get("/whoami").text == "anonymous"
    assert json.loads(run(app, "stats", "--json").output)["sessions"] == 0


def test_decode(populated: tuple[Flask, dict[str, t.Any]]) -> None:
    app, clients = populated
    cookie = clients["bob"].get_cookie("session")
    assert cookie is not None
    decoded = json.loads(run(app, "decode", f"session={cookie.value}", "--json").output)
    assert decoded["live"] is True and decoded["signed_by"] == "current key"
    assert decoded["data"]["user"] == "bob"
    bad = run(app, "decode", "--", cookie.value[:-5] + "AAAAA")  # "--": ids may start with "-"
    assert bad.exit_code == 1 and bad.output.count("\n") == 1
    assert "Error: not a valid session id" in bad.output


@pytest.mark.parametrize(
    "args",
    [
        ["revoke"],
        ["revoke", "x", "--all"],
        ["list", "--limit", "zero"],
        ["stats", "--soon", "-1"],
        ["purge", "--batch", "0"],
        ["show"],
        ["nonsense"],
        ["list", "--bogus"],
    ],
)
def test_wrong_arguments_give_one_line_and_non_zero(
    populated: tuple[Flask, dict[str, t.Any]], args: list[str]
) -> None:
    app, _ = populated
    result = run(app, *args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0 and result.output.startswith("Error:")
    assert "Traceback" not in result.output


def test_unknown_handle_is_a_clear_error(populated: tuple[Flask, dict[str, t.Any]]) -> None:
    app, _ = populated
    for args in (["show", "0" * 64], ["revoke", "0" * 64]):
        result = run(app, *args)
        assert result.exit_code == 1 and "no live session" in result.output


def test_purge_with_progress(store: Store, clock: Clock, request: pytest.FixtureRequest) -> None:
    app = make_app(store, clock)
    backend = request.node.callspec.params["store"]
    # 100 000 where creating them is quick (the memory store holds at most
    # 100 000 and evicts expired ones first); the SQL servers get 5 000 (same code path)
    count = {"memory": 50_000, "sqlite": 100_000}.get(backend, 5_000)
    now = int(clock.now)
    bulk = getattr(store, "create_many", None)
    records = (
        (f"{n:064x}", Record(data={"n": str(n)}, created=now - 100, expires=now - 1))
        for n in range(count)
    )
    if bulk is not None:
        bulk(records)
    else:
        for key, record in records:
            store.create(key, record)
    client = app.test_client()
    client.get("/login/alive")
    result = run(app, "purge", "--batch", "1000")
    assert result.exit_code == 0, result.output
    if backend.startswith("redis"):  # Redis expires keys itself: nothing to purge
        assert result.output.strip().endswith("purged 0 expired session(s)")
    else:
        assert f"purged {count} expired session(s)" in result.output
        assert f"purging: {count} deleted" in result.output  # progress
        assert result.output.count("purging:") >= count // 1000
    assert client.get("/whoami").text == "alive"
    assert json.loads(run(app, "stats", "--json").output)["sessions"] == 1


def test_commands_in_cookie_mode_say_there_is_nothing_stored(clock: Clock) -> None:
    app = Flask("cookie_cli")
    app.config["SECRET_KEY"] = SECRET
    Satchel(app, clock=clock)

    @app.route("/set")
    def set_() -> str:
        session["user"] = "stzz"
        return "ok"

    value = cookie_of(app.test_client().get("/set"))
    result = run(app, "list")
    assert result.exit_code == 1 and "SESSION_STORE is not set" in result.output
    decoded = json.loads(run(app, "decode", str(value), "--json").output)
    assert decoded["kind"] == "signed cookie" and decoded["data"] == {"user": "stzz"}


def awkward_users() -> list[str]:
    """User ids of every length 0..130, plain and with ':' and non-ASCII: a Redis
    index key ("u:" + user) once passed for a session key at 62 characters."""
    users = []
    for n in range(131):
        users.append("x" * n)
        users.append(("u:é王" * 50)[:n])
    return list(dict.fromkeys(users))  # "" twice


def test_user_ids_of_every_length_list_stats_and_revoke_all(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    now = int(clock.now)
    users = awkward_users()
    for n, user in enumerate(users):
        record = Record(data={"n": str(n)}, created=now, expires=now + 600, user=user)
        store.create(f"{n:064x}", record)
    listed = run(app, "list", "--limit", "1000", "--json")
    assert listed.exit_code == 0, listed.output
    assert sorted(d["user"] for d in json.loads(listed.output)) == sorted(users)
    stats = run(app, "stats", "--json")
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["sessions"] == len(users)
    for user in ("x" * 62, ("u:é王" * 50)[:62], ""):
        one = run(app, "list", "--user", user, "--json")
        assert one.exit_code == 0 and [d["user"] for d in json.loads(one.output)] == [user]
    revoked = run(app, "revoke", "--all")
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output.strip() == f"revoked {len(users)} session(s)"
    assert json.loads(run(app, "stats", "--json").output)["sessions"] == 0


#: Clears the screen, retitles the terminal, flips the text's direction; C1 CSI too.
HOSTILE = "\x1b[2J\x1b]0;pwned\x07\u202eevil\x9b31m\x85\u2028\x00\x7f"


def hidden_characters(output: str) -> list[str]:
    """What a terminal would act on rather than show: every control but the line feed."""
    return [
        c for c in output if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"}
    ]


def test_hostile_text_is_escaped_on_the_terminal(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    # No NUL in the user id: PostgreSQL cannot store one in a text column (reported).
    user = "mallory" + HOSTILE.replace("\x00", "")
    client = app.test_client()
    # Through a real request: the user agent as sent, the user id and a value from the URL.
    response = client.get(f"/login/{quote(user)}", headers={"User-Agent": "UA" + HOSTILE})
    assert response.status_code == 200
    # A browser's UTF-8 arrives as Latin-1 text: U+202E becomes "â\x80®" (a C1 inside).
    mojibake = app.test_client()
    mojibake.get("/login/zed", headers={"User-Agent": "\u202e".encode().decode("latin-1")})
    [listed] = json.loads(run(app, "list", "--user", user, "--json").output)
    assert listed["user_agent"] == "UA" + HOSTILE  # stored as sent, only shown escaped
    handle = listed["handle"]
    cookie = client.get_cookie("session")
    assert cookie is not None
    outputs = {
        "list": run(app, "list"),
        "list --user": run(app, "list", "--user", user),
        "show": run(app, "show", handle),
        "stats": run(app, "stats"),
        "decode": run(app, "decode", f"session={cookie.value}"),  # ids may start with "-"
        "revoke --user": run(app, "revoke", "--user", user),
    }
    for name, result in outputs.items():
        assert result.exit_code == 0, (name, result.output)
        assert hidden_characters(result.output) == [], (name, result.output)
    for name in ("list", "show"):
        assert "\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\x9b31m" in outputs[name].output, name
    assert "mallory\\x1b[2J" in outputs["show"].output and "mallory\\x1b" in outputs["stats"].output
    assert "â\\x80®" in outputs["list"].output
    # JSON stays JSON, with every such character escaped too.
    client.get(f"/login/{quote(user)}", headers={"User-Agent": "UA" + HOSTILE})
    handle = json.loads(run(app, "list", "--user", user, "--json").output)[0]["handle"]
    outputs = {
        "list": run(app, "list", "--json"),
        "show": run(app, "show", handle, "--json"),
        "stats": run(app, "stats", "--json"),
    }
    for name, result in outputs.items():
        assert hidden_characters(result.output) == [], (name, result.output)
    assert user in {d["user"] for d in json.loads(outputs["list"].output)}
    shown = json.loads(outputs["show"].output)
    assert shown["user"] == shown["data"]["user"] == user
    assert shown["user_agent"] == "UA" + HOSTILE
    assert json.loads(outputs["stats"].output)["top_users"][user] == 1
