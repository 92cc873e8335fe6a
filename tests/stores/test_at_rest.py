"""SESSION_STORE_ENCRYPTED against every store: a dump shows nothing, rows do not move."""

from __future__ import annotations

import typing as t

from flask import Flask, session

import satchel
from satchel import Satchel
from satchel.ids import hash_id
from satchel.stores import Store

from ..conftest import Clock, add_routes, cookie_of

SECRET = "at-rest-secret-0123456789abcdef"
PLAINTEXT = "王天祥-4111-1111-1111-1111"


def make_app(store: Store, clock: Clock, **config: t.Any) -> Flask:
    app = Flask("at_rest")
    app.config.update(
        {
            "SECRET_KEY": SECRET,
            "SESSION_STORE": store,
            "SESSION_STORE_ENCRYPTED": True,
            "SESSION_RECORD_DEVICE": True,
            **config,
        }
    )
    Satchel(app, clock=clock)
    add_routes(app)

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        satchel.login(user)
        return "ok"

    @app.route("/devices")
    def devices() -> str:
        return repr([(d.user_agent, d.current) for d in satchel.sessions_of(session["user"])])

    return app


def dump(store: Store, clock: Clock) -> str:
    return repr([(k, r.data) for k, r in store.scan(int(clock.now))])


def test_a_dump_shows_neither_values_nor_key_names(store: Store, clock: Clock) -> None:
    client = make_app(store, clock).test_client()
    client.get(f"/set/credit_card/{PLAINTEXT}")
    client.get("/set/nickname/stzz")
    assert client.get("/get/credit_card").text == repr(PLAINTEXT)
    stored = dump(store, clock)
    assert stored.count("'") > 4  # there is something stored
    for secret in (PLAINTEXT, "4111", "credit_card", "nickname", "stzz", "127.0.0.1"):
        assert secret not in stored, secret
    assert PLAINTEXT.encode("unicode_escape").decode() not in stored


def test_a_row_copied_onto_another_session_does_not_open(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    victim, attacker = app.test_client(), app.test_client()
    victim_cookie = cookie_of(victim.get(f"/set/credit_card/{PLAINTEXT}"))
    attacker_cookie = cookie_of(attacker.get("/set/nickname/mallory"))
    assert victim_cookie and attacker_cookie
    now = int(clock.now)
    victim_key = hash_id(victim_cookie.split(".")[0])
    attacker_key = hash_id(attacker_cookie.split(".")[0])
    stolen = store.load(victim_key, now)
    assert stolen is not None
    store.delete(attacker_key)
    store.create(attacker_key, stolen)  # the attacker's row now holds the victim's data
    assert attacker.get("/get/credit_card").text == "None"
    assert victim.get("/get/credit_card").text == repr(PLAINTEXT)


def test_rotation_opens_old_rows_and_rewrites_them(store: Store, clock: Clock) -> None:
    old_app = make_app(store, clock)
    client = old_app.test_client()
    value = cookie_of(client.get(f"/set/credit_card/{PLAINTEXT}"))
    assert value
    before = dump(store, clock)
    rotated = make_app(
        store, clock, SECRET_KEY="rotated-at-rest-secret-0123456789", SECRET_KEY_FALLBACKS=[SECRET]
    )
    new_client = rotated.test_client(use_cookies=False)
    headers = {"Cookie": f"session={value}"}
    assert new_client.get("/get/credit_card", headers=headers).text == repr(PLAINTEXT)
    after = dump(store, clock)
    assert after != before  # rewritten under the current key
    only_new = make_app(store, clock, SECRET_KEY="rotated-at-rest-secret-0123456789")
    reissued = cookie_of(new_client.get("/get/credit_card", headers=headers)) or value
    check = only_new.test_client(use_cookies=False)
    response = check.get("/get/credit_card", headers={"Cookie": f"session={reissued}"})
    assert response.text == repr(PLAINTEXT)


def test_regenerate_and_devices_work_sealed(store: Store, clock: Clock) -> None:
    app = make_app(store, clock)
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = "sealed-agent"
    client.get("/set/cart/x")
    client.get("/login/alice")
    assert client.get("/get/cart").text == "'x'"
    assert client.get("/devices").text == repr([("sealed-agent", True)])


def fields(store: Store, clock: Clock) -> list[dict[str, str]]:
    return [r.data for _, r in store.scan(int(clock.now))]


def test_a_removed_value_leaves_no_sealed_field_behind(store: Store, clock: Clock) -> None:
    client = make_app(store, clock).test_client()
    client.get(f"/set/credit_card/{PLAINTEXT}")
    client.get("/set/nickname/stzz")
    ((before,),) = [fields(store, clock)]
    client.get("/pop/credit_card")
    ((after,),) = [fields(store, clock)]
    assert len(after) == len(before) - 1  # the sealed field itself is gone, not just unread
    assert client.get("/get/credit_card").text == "None"
    assert client.get("/get/nickname").text == "'stzz'"


def test_rotation_leaves_one_field_per_value_under_the_current_key(
    store: Store, clock: Clock
) -> None:
    client = make_app(store, clock).test_client()
    value = cookie_of(client.get(f"/set/credit_card/{PLAINTEXT}"))
    assert value
    ((before,),) = [fields(store, clock)]
    new = "rotated-at-rest-secret-0123456789"
    rotated = make_app(store, clock, SECRET_KEY=new, SECRET_KEY_FALLBACKS=[SECRET])
    headers = {"Cookie": f"session={value}"}
    response = rotated.test_client(use_cookies=False).get("/get/credit_card", headers=headers)
    assert response.text == repr(PLAINTEXT)
    reissued = cookie_of(response) or value
    ((after,),) = [fields(store, clock)]
    assert len(after) == len(before)  # each old field replaced, none kept beside the new one
    only_new = make_app(store, clock, SECRET_KEY=new).test_client(use_cookies=False)
    headers = {"Cookie": f"session={reissued}"}
    assert only_new.get("/get/credit_card", headers=headers).text == repr(PLAINTEXT)


def test_reading_a_sealed_session_does_not_rewrite_it(store: Store, clock: Clock) -> None:
    client = make_app(store, clock).test_client()
    client.get(f"/set/credit_card/{PLAINTEXT}")
    before = dump(store, clock)
    assert client.get("/get/credit_card").text == repr(PLAINTEXT)
    assert dump(store, clock) == before  # a rewrite would reseal with fresh nonces


def test_a_value_removed_right_after_rotation_stays_removed(store: Store, clock: Clock) -> None:
    client = make_app(store, clock).test_client()
    value = cookie_of(client.get(f"/set/credit_card/{PLAINTEXT}"))
    assert value
    new = "rotated-at-rest-secret-0123456789"
    rotated = make_app(store, clock, SECRET_KEY=new, SECRET_KEY_FALLBACKS=[SECRET])
    after = rotated.test_client(use_cookies=False)
    response = after.get("/pop/credit_card", headers={"Cookie": f"session={value}"})
    assert response.text == repr(PLAINTEXT)
    reissued = cookie_of(response) or value
    headers = {"Cookie": f"session={reissued}"}
    assert after.get("/get/credit_card", headers=headers).text == "None"  # old field gone too


def test_without_encryption_values_are_filed_under_their_names(store: Store, clock: Clock) -> None:
    client = make_app(store, clock, SESSION_STORE_ENCRYPTED=False).test_client()
    client.get("/set/nickname/stzz")
    client.get("/set/cart/x")
    assert any(data.get("nickname") == '"stzz"' for data in fields(store, clock))
    before = dump(store, clock)
    assert client.get("/dump").text == repr([("cart", "x"), ("nickname", "stzz")])
    assert dump(store, clock) == before
    client.get("/pop/nickname")
    assert not any("nickname" in data for data in fields(store, clock))
    assert client.get("/dump").text == repr([("cart", "x")])
