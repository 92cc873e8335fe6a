"""Server-side sessions through Flask, against every store."""

from __future__ import annotations

import collections
import re
import threading
import typing as t
from datetime import timedelta

import pytest
from flask import Flask, session

from satchel import Satchel, SerializationError, signals
from satchel.ids import hash_id
from satchel.stores import Change, Record, Store

from ..conftest import Clock, add_routes, cookie_of

SID_COOKIE = re.compile(r"[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}")


class Counting(Store):
    """Wraps a real store and counts the calls made to it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: collections.Counter[str] = collections.Counter()

    def load(self, key: str, now: int) -> Record | None:
        self.calls["load"] += 1
        return self.inner.load(key, now)

    def create(self, key: str, record: Record) -> None:
        self.calls["create"] += 1
        self.inner.create(key, record)

    def update(self, key: str, change: Change, now: int) -> bool:
        self.calls["update"] += 1
        return self.inner.update(key, change, now)

    def touch(self, key: str, expires: int, now: int) -> bool:
        self.calls["touch"] += 1
        return self.inner.touch(key, expires, now)

    def take(self, key: str, now: int) -> Record | None:
        self.calls["take"] += 1
        return self.inner.take(key, now)

    def delete(self, key: str) -> None:
        self.calls["delete"] += 1
        self.inner.delete(key)

    def purge(self, now: int, batch: int = 1000) -> t.Iterator[int]:
        return self.inner.purge(now, batch)

    def rename(self, old: str, new: str, change: Change, now: int) -> bool:
        self.calls["rename"] += 1
        return self.inner.rename(old, new, change, now)

    def sessions_of(self, user: str, now: int) -> list[tuple[str, Record]]:
        self.calls["sessions_of"] += 1
        return self.inner.sessions_of(user, now)

    def scan(self, now: int, batch: int = 1000) -> t.Iterator[tuple[str, Record]]:
        self.calls["scan"] += 1
        return self.inner.scan(now, batch)

    def writes(self) -> int:
        return sum(self.calls[m] for m in ("create", "update", "touch", "take", "delete", "rename"))


def make_app(store: Store, clock: Clock, **config: t.Any) -> Flask:
    app = Flask("server_app")
    app.config.update(
        {"SECRET_KEY": "server-side-secret-0123456789abcdef", "SESSION_STORE": store, **config}
    )
    Satchel(app, clock=clock)
    add_routes(app)

    @app.route("/regenerate")
    def regenerate() -> str:
        session.regenerate()
        return "ok"

    @app.route("/destroy")
    def destroy() -> str:
        session.destroy()
        return "ok"

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session.clear()  # Flask's tutorial login pattern
        session["user"] = user
        return "ok"

    @app.route("/del/<key>")
    def delete(key: str) -> str:
        del session[key]
        return "ok"

    @app.route("/update/<key>/<value>")
    def update(key: str, value: str) -> str:
        session.update({key: value})
        return "ok"

    @app.route("/ior/<key>/<value>")
    def ior(key: str, value: str) -> str:
        s = session._get_current_object()  # type: ignore[attr-defined]
        s |= {key: value}
        return "ok"

    @app.route("/popitem")
    def popitem() -> str:
        return repr(session.popitem())

    return app


@pytest.fixture
def counting(store: Store) -> Counting:
    return Counting(store)


@pytest.fixture
def app(counting: Counting, clock: Clock) -> Flask:
    return make_app(counting, clock)


def sid_of(value: str) -> str:
    return value.split(".", 1)[0]


def test_anonymous_requests_store_nothing_and_set_no_cookie(app: Flask, counting: Counting) -> None:
    client = app.test_client()
    for path in ("/none", "/get/user", "/dump", "/pop/x"):
        response = client.get(path)
        assert response.headers.getlist("Set-Cookie") == [], path
    assert counting.writes() == 0


def test_set_stores_under_the_hash_of_the_id(app: Flask, counting: Counting, clock: Clock) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    assert value is not None and SID_COOKIE.fullmatch(value)
    sid = sid_of(value)
    assert counting.inner.load(sid, int(clock.now)) is None  # never filed under the raw id
    record = counting.inner.load(hash_id(sid), int(clock.now))
    assert record is not None and record.data == {"user": '"stzz"'}
    assert client.get("/get/user").text == "'stzz'"


def test_garbage_and_forged_ids_never_reach_the_store(app: Flask, counting: Counting) -> None:
    client = app.test_client(use_cookies=False)
    good = cookie_of(app.test_client().get("/set/user/stzz"))
    assert good is not None
    counting.calls.clear()
    # (not the last character: base64 ignores its low bits, so some flips
    # there decode to the very same signature)
    forged = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    for bad in ["garbage", "x" * 87, forged, good.replace(".", "!"), "../../etc", "' OR 1=1 --"]:
        response = client.get("/get/user", headers={"Cookie": f"session={bad}"})
        assert response.status_code == 200 and response.text == "None"
    assert counting.calls["load"] == 0


def test_an_id_the_server_did_not_issue_is_never_adopted(app: Flask) -> None:
    from satchel.ids import IdSigner

    planted = IdSigner(["server-side-secret-0123456789abcdef"]).sign(
        "A" * 43
    )  # signed, never stored
    client = app.test_client(use_cookies=False)
    response = client.get("/set/user/victim", headers={"Cookie": f"session={planted}"})
    issued = cookie_of(response)
    assert issued is not None and sid_of(issued) != "A" * 43


def test_regenerate_keeps_data_and_kills_the_old_id(app: Flask, counting: Counting) -> None:
    client = app.test_client()
    old = cookie_of(client.get("/set/user/stzz"))
    new = cookie_of(client.get("/regenerate"))
    assert old and new and sid_of(old) != sid_of(new)
    assert client.get("/get/user").text == "'stzz'"
    replay = app.test_client(use_cookies=False)
    assert replay.get("/get/user", headers={"Cookie": f"session={old}"}).text == "None"


def test_login_after_clear_gets_a_fresh_id(app: Flask) -> None:
    client = app.test_client()
    before = cookie_of(client.get("/set/cart/x"))
    after = cookie_of(client.get("/login/stzz"))
    assert before and after and sid_of(before) != sid_of(after)
    assert client.get("/dump").text == repr([("user", "stzz")])
    replay = app.test_client(use_cookies=False)
    assert replay.get("/get/cart", headers={"Cookie": f"session={before}"}).text == "None"


def test_destroy_deletes_record_and_cookie(app: Flask, counting: Counting, clock: Clock) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    assert value is not None
    response = client.get("/destroy")
    assert cookie_of(response) == ""  # deletion cookie
    assert counting.inner.load(hash_id(sid_of(value)), int(clock.now)) is None
    replay = app.test_client(use_cookies=False)
    assert replay.get("/get/user", headers={"Cookie": f"session={value}"}).text == "None"


def test_deletion_cookie_has_the_issuing_attributes(counting: Counting, clock: Clock) -> None:
    config = {
        "SESSION_COOKIE_NAME": "__Host-sid",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_PARTITIONED": True,
        "SESSION_COOKIE_PATH": "/",
    }
    app = make_app(counting, clock, **config)
    client = app.test_client()
    set_header = client.get("/set/user/x", base_url="https://h.test/").headers["Set-Cookie"]
    del_header = client.get("/destroy", base_url="https://h.test/").headers["Set-Cookie"]
    attrs = {"Secure", "HttpOnly", "Path=/", "SameSite=Strict", "Partitioned"}
    assert attrs <= set(p.strip() for p in set_header.split(";"))
    assert attrs <= set(p.strip() for p in del_header.split(";"))


def test_nested_mutation_is_saved(app: Flask) -> None:
    client = app.test_client()
    client.get("/set/user/stzz")
    with client.session_transaction() as sess:
        sess["cart"] = ["a"]
    client.get("/append/cart/b")
    assert client.get("/get/cart").text == "['a', 'b']"


def test_read_only_requests_write_nothing_until_the_margin(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock, PERMANENT_SESSION_LIFETIME=1000, SESSION_REFRESH_MARGIN=100)
    client = app.test_client()
    client.get("/set/user/stzz")
    counting.calls.clear()
    for _ in range(9):
        clock.advance(10)
        assert client.get("/get/user").text == "'stzz'"
    assert counting.writes() == 0 and counting.calls["load"] == 9
    clock.advance(20)  # 110 s since the write: past the margin
    client.get("/get/user")
    assert counting.calls["touch"] == 1
    clock.advance(950)  # idle, but within the extended lifetime
    assert client.get("/get/user").text == "'stzz'"


def test_idle_expiry_is_enforced_on_the_server(app: Flask, clock: Clock) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    clock.advance(timedelta(days=31).total_seconds() + 1)
    replay = app.test_client(use_cookies=False)
    assert replay.get("/get/user", headers={"Cookie": f"session={value}"}).text == "None"


def test_absolute_expiry_is_not_extended_by_activity(counting: Counting, clock: Clock) -> None:
    app = make_app(counting, clock, SESSION_ABSOLUTE_LIFETIME=3600, PERMANENT_SESSION_LIFETIME=600)
    client = app.test_client()
    client.get("/set/user/stzz")
    for n in range(6):
        clock.advance(500)
        assert client.get(f"/set/n/{n}").status_code == 200
        assert client.get("/get/user").text == "'stzz'"
    clock.advance(700)  # 3700 s after creation, 200 s after the last activity
    assert client.get("/get/user").text == "None"


def test_unserializable_value_names_key_and_leaves_the_store_untouched(app: Flask) -> None:
    app.testing = True

    @app.route("/bad")
    def bad() -> str:
        session["user"] = "changed"
        session["when"] = object()
        return "ok"

    client = app.test_client()
    client.get("/set/user/stzz")
    with pytest.raises(SerializationError, match=r"session\['when'\] is a builtins.object"):
        client.get("/bad")
    assert client.get("/get/user").text == "'stzz'"


def test_two_concurrent_requests_changing_different_keys_both_survive(app: Flask) -> None:
    barrier = threading.Barrier(2)

    @app.route("/race/<key>")
    def race(key: str) -> str:
        _ = session.get("user")  # both requests have loaded the session...
        barrier.wait(timeout=10)  # ...before either saves
        session[key] = "set"
        return "ok"

    client = app.test_client()
    client.get("/set/user/stzz")
    cookie = client.get_cookie("session")
    assert cookie is not None

    def run(key: str) -> None:
        c = app.test_client(use_cookies=False)
        assert (
            c.get(f"/race/{key}", headers={"Cookie": f"session={cookie.value}"}).status_code == 200
        )

    threads = [threading.Thread(target=run, args=(k,)) for k in ("a", "b")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert client.get("/dump").text == repr([("a", "set"), ("b", "set"), ("user", "stzz")])


def test_logout_during_a_slow_request_is_not_undone(app: Flask) -> None:
    loaded, logged_out = threading.Event(), threading.Event()
    conflicts: list[dict[str, t.Any]] = []

    @app.route("/slow")
    def slow() -> str:
        _ = session.get("user")
        loaded.set()
        logged_out.wait(timeout=10)
        session["last_seen_page"] = "/slow"
        return "ok"

    client = app.test_client()
    client.get("/set/user/stzz")
    cookie = client.get_cookie("session")
    assert cookie is not None

    def on_conflict(sender: t.Any, **kwargs: t.Any) -> None:
        conflicts.append(kwargs)

    responses: dict[str, t.Any] = {}

    def slow_request() -> None:
        c = app.test_client(use_cookies=False)
        responses["slow"] = c.get("/slow", headers={"Cookie": f"session={cookie.value}"})

    with signals.session_conflict.connected_to(on_conflict, sender=app):
        th = threading.Thread(target=slow_request)
        th.start()
        assert loaded.wait(timeout=10)
        logout = app.test_client(use_cookies=False).get(
            "/destroy", headers={"Cookie": f"session={cookie.value}"}
        )
        assert cookie_of(logout) == ""
        logged_out.set()
        th.join()
    assert responses["slow"].status_code == 200
    assert responses["slow"].headers.getlist("Set-Cookie") == []  # no cookie for the dead id
    assert len(conflicts) == 1 and conflicts[0]["dropped"] == ["last_seen_page"]
    replay = app.test_client(use_cookies=False)
    assert replay.get("/get/user", headers={"Cookie": f"session={cookie.value}"}).text == "None"


def test_fallback_key_id_is_reissued(counting: Counting, clock: Clock) -> None:
    old = make_app(counting, clock)
    value = cookie_of(old.test_client().get("/set/user/stzz"))
    new = make_app(
        counting,
        clock,
        SECRET_KEY="rotated-secret-0123456789abcdef",
        SECRET_KEY_FALLBACKS=["server-side-secret-0123456789abcdef"],
    )
    client = new.test_client(use_cookies=False)
    response = client.get("/get/user", headers={"Cookie": f"session={value}"})
    assert response.text == "'stzz'"
    reissued = cookie_of(response)
    assert value and reissued and sid_of(reissued) == sid_of(value) and reissued != value


# -- the request cycle: deletion, refresh, duplicates (#10 items 7, 8, 13) -------


def test_a_cookie_that_does_not_verify_is_never_deleted(counting: Counting, clock: Clock) -> None:
    # A worker without the new key yet, or a sibling app on the same domain, must not
    # log the user out (R45): Flask's test_session_secret_key_fallbacks, in server mode.
    app = make_app(counting, clock)
    client = app.test_client()
    client.get("/set/user/stzz")
    app.secret_key = "a-key-this-cookie-was-not-signed-with"
    for path in ("/none", "/get/user", "/dump"):
        response = client.get(path)
        assert response.headers.getlist("Set-Cookie") == [], path
    assert client.get_cookie("session") is not None
    app.secret_key = "rotated-secret-0123456789abcdef"
    app.config["SECRET_KEY_FALLBACKS"] = ["server-side-secret-0123456789abcdef"]
    assert client.get("/get/user").text == "'stzz'"


def test_a_verified_cookie_of_a_gone_session_is_deleted(counting: Counting, clock: Clock) -> None:
    app = make_app(counting, clock, SESSION_ABSOLUTE_LIFETIME=3600)
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    assert value is not None
    counting.inner.delete(hash_id(sid_of(value)))
    assert cookie_of(client.get("/none")) == ""  # deletion cookie
    client.get("/set/user/stzz")
    clock.advance(3600)  # absolute lifetime reached
    assert cookie_of(client.get("/none")) == ""


def test_a_permanent_session_cookie_is_resent_each_request_without_a_write(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock)
    client = app.test_client()
    client.get("/set/user/stzz")
    value = cookie_of(client.get("/permanent/1"))
    assert value is not None
    counting.calls.clear()
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"  # a changed attribute...
    clock.advance(60)
    response = client.get("/none")  # ...reaches the session on its next request
    assert cookie_of(response) == value
    header = response.headers["Set-Cookie"]
    assert "SameSite=Strict" in header and "Expires=" in header
    assert response.headers["Vary"] == "Cookie"
    assert counting.writes() == 0


def test_no_resend_without_refresh_each_request_or_for_a_browser_session(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock, SESSION_REFRESH_EACH_REQUEST=False)
    client = app.test_client()
    client.get("/set/user/stzz")
    client.get("/permanent/1")
    assert client.get("/get/user").headers.getlist("Set-Cookie") == []
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    client.get("/permanent/0")
    assert client.get("/get/user").headers.getlist("Set-Cookie") == []
    # Flask's rule also re-sends a modified session's cookie: the same id.
    value = client.get_cookie("session")
    assert value is not None and cookie_of(client.get("/set/n/1")) == value.value


def test_many_junk_cookies_sent_first_do_not_hide_the_real_one(
    app: Flask, counting: Counting
) -> None:
    real = cookie_of(app.test_client().get("/set/user/stzz"))
    assert real is not None
    junk = [f"session={'x' * 43}.{n:043d}" for n in range(49)] + ["session=garbage"]
    counting.calls.clear()
    header = "; ".join([*junk, f"session={real}"])
    response = app.test_client(use_cookies=False).get("/get/user", headers={"Cookie": header})
    assert response.text == "'stzz'"
    assert response.headers.getlist("Set-Cookie") == []  # nothing deleted, nothing re-issued
    assert counting.calls["load"] == 1  # garbage never reaches the store


# -- every write is saved, on every store (pinned after a mutation run) -------------


def stored(counting: Counting, client: t.Any, clock: Clock) -> dict[str, str]:
    cookie = client.get_cookie("session")
    assert cookie is not None
    record = counting.inner.load(hash_id(sid_of(cookie.value)), int(clock.now))
    assert record is not None
    return record.data


@pytest.mark.parametrize("route", ["/del/b", "/pop/b", "/popitem"])
def test_removing_one_key_of_several_is_saved(
    app: Flask, counting: Counting, clock: Clock, route: str
) -> None:
    client = app.test_client()
    client.get("/set/a/1")
    client.get("/set/b/2")
    assert client.get(route).status_code == 200
    assert client.get("/dump").text == "[('a', '1')]"
    assert stored(counting, client, clock) == {"a": '"1"'}


@pytest.mark.parametrize("route", ["/update", "/ior"])
def test_update_and_ior_are_saved(app: Flask, counting: Counting, clock: Clock, route: str) -> None:
    client = app.test_client()
    client.get("/set/a/1")
    assert client.get(f"{route}/b/2").status_code == 200
    assert client.get(f"{route}/a/3").status_code == 200
    assert client.get("/dump").text == "[('a', '3'), ('b', '2')]"
    assert stored(counting, client, clock) == {"a": '"3"', "b": '"2"'}


def test_a_new_session_started_by_update_is_stored(app: Flask) -> None:
    client = app.test_client()
    value = cookie_of(client.get("/update/a/1"))
    assert value and SID_COOKIE.fullmatch(value)
    assert client.get("/get/a").text == "'1'"


def test_a_pushed_back_expiry_reissues_a_permanent_cookie(counting: Counting, clock: Clock) -> None:
    app = make_app(counting, clock, PERMANENT_SESSION_LIFETIME=1000, SESSION_REFRESH_MARGIN=100)
    client = app.test_client()
    client.get("/set/user/stzz")
    client.get("/permanent/1")
    clock.advance(150)  # past the margin: this read extends the record
    response = client.get("/get/user")
    assert counting.calls["touch"] == 1
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert cookie_of(response), "the browser would drop the cookie before the record"
    assert cookie.expires.timestamp() == pytest.approx(clock.now + 1000, abs=1)
    record = counting.inner.load(hash_id(sid_of(cookie.value)), int(clock.now))
    assert record is not None and record.expires == int(clock.now) + 1000


def test_a_write_to_a_permanent_session_extends_record_and_cookie(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock, PERMANENT_SESSION_LIFETIME=1000, SESSION_REFRESH_MARGIN=100)
    client = app.test_client()
    client.get("/permanent/1")
    clock.advance(500)
    response = client.get("/set/user/stzz")
    assert cookie_of(response)
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires.timestamp() == pytest.approx(clock.now + 1000, abs=1)
    clock.advance(900)  # 1400 s after creation, 900 after the write
    assert client.get("/get/user").text == "'stzz'"


def test_absolute_lifetime_ends_at_exactly_created_plus_lifetime(
    counting: Counting, clock: Clock
) -> None:
    app = make_app(counting, clock, SESSION_ABSOLUTE_LIFETIME=3600, PERMANENT_SESSION_LIFETIME=7200)
    client = app.test_client()
    value = cookie_of(client.get("/set/user/stzz"))
    replay = app.test_client(use_cookies=False)
    clock.advance(3599)
    assert replay.get("/get/user", headers={"Cookie": f"session={value}"}).text == "'stzz'"
    clock.advance(1)
    assert replay.get("/get/user", headers={"Cookie": f"session={value}"}).text == "None"
    assert value is not None
    assert counting.inner.load(hash_id(sid_of(value)), int(clock.now)) is None  # deleted


def test_idle_expiry_ends_at_exactly_the_records_expiry(counting: Counting, clock: Clock) -> None:
    app = make_app(counting, clock, PERMANENT_SESSION_LIFETIME=600)
    value = cookie_of(app.test_client().get("/set/user/stzz"))
    replay = app.test_client(use_cookies=False)
    assert value is not None
    clock.advance(599)  # (a read now would extend it: look in the store instead)
    assert counting.inner.load(hash_id(sid_of(value)), int(clock.now)) is not None
    clock.advance(1)
    assert replay.get("/get/user", headers={"Cookie": f"session={value}"}).text == "None"
