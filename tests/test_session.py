"""The session object: Flask's flags, change tracking, nested mutations."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSession, SessionMixin

from satchel import Session

from .conftest import Clock, cookie_of, make_satchel_app

OPERATIONS: list[tuple[str, t.Callable[[t.Any], t.Any]]] = [
    ("set", lambda s: s.__setitem__("a", 1)),
    ("set same value", lambda s: s.__setitem__("x", 1)),
    ("del", lambda s: s.__delitem__("x")),
    ("clear", lambda s: s.clear()),
    ("clear empty", lambda s: (s.clear(), s.__setattr__("modified", False), s.clear())),
    ("update", lambda s: s.update(b=2)),
    ("update nothing", lambda s: s.update()),
    ("setdefault missing", lambda s: s.setdefault("new", 1)),
    ("setdefault present", lambda s: s.setdefault("x", 5)),
    ("pop present", lambda s: s.pop("x")),
    ("pop missing with default", lambda s: s.pop("nope", None)),
    ("popitem", lambda s: s.popitem()),
    ("get", lambda s: s.get("x")),
    ("getitem", lambda s: s["x"]),
    ("contains", lambda s: "x" in s),
    ("len", lambda s: len(s)),
    ("iterate", lambda s: list(s)),
    ("permanent read", lambda s: s.permanent),
    ("permanent set", lambda s: setattr(s, "permanent", True)),
]


@pytest.mark.parametrize("name,op", OPERATIONS, ids=[n for n, _ in OPERATIONS])
def test_modified_follows_flask(name: str, op: t.Callable[[t.Any], t.Any]) -> None:
    flask_session = SecureCookieSession({"x": 1})
    ours = Session({"x": 1})
    op(flask_session)
    op(ours)
    assert ours.modified == flask_session.modified
    assert dict(ours) == dict(flask_session)


def test_errors_follow_dict() -> None:
    s = Session()
    with pytest.raises(KeyError):
        s.pop("missing")
    with pytest.raises(KeyError):
        del s["missing"]
    with pytest.raises(KeyError):
        s.popitem()
    assert not s.modified


def test_is_a_flask_session_mixin_and_a_dict() -> None:
    s = Session({"a": 1})
    assert isinstance(s, SessionMixin)
    assert isinstance(s, dict)
    assert not s.new and not s.permanent
    s.permanent = True
    assert s["_permanent"] is True and s.modified


def test_changed_keys_are_tracked() -> None:
    s = Session({"a": 1, "b": 2, "c": 3})
    s["a"] = 10
    del s["b"]
    s.pop("missing", None)
    assert s.changed_keys == {"a", "b"}
    assert not s.cleared
    s.clear()
    s["d"] = 4
    assert s.cleared and s.changed_keys == {"d"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: s["cart"].append(3),
        lambda s: s.get("cart").append(3),
        lambda s: s.setdefault("cart", []).append(3),
        lambda s: next(v for k, v in s.items() if k == "cart").append(3),
        lambda s: s["prefs"].update(theme="dark"),
        lambda s: next(iter(s.values())).append(3),
        lambda s: dict(s)["cart"].append(3),
        lambda s: {**s}["cart"].append(3),
        lambda s: s.copy()["cart"].append(3),
    ],
)
def test_nested_mutation_is_detected(mutate: t.Callable[[Session], None]) -> None:
    s = Session({"cart": [1, 2], "prefs": {"theme": "light"}, "user": "stzz"})
    mutate(s)
    assert not s.modified  # nothing visible until save time
    assert s.collect_changes() is True
    assert s.changed_keys & {"cart", "prefs"}
    assert "user" not in s.changed_keys


def test_reading_without_mutation_is_not_a_change() -> None:
    s = Session({"cart": [1, 2], "prefs": {"a": (1, 2)}, "user": "stzz"})
    _ = s["cart"], s.get("prefs"), list(s.items()), dict(s)
    assert s.collect_changes() is False
    assert s.changed_keys == frozenset()


def test_scalar_reads_take_no_snapshot() -> None:
    s = Session({"user": "stzz", "n": 1})
    _ = s["user"], s.get("n")
    assert s._seen == {}


def test_nested_mutation_saved_through_flask(clock: Clock) -> None:
    app = make_satchel_app(clock=clock)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["cart"] = ["a"]
    response = client.get("/append/cart/b")
    assert cookie_of(response) is not None
    assert client.get("/get/cart").text == "['a', 'b']"


def test_nested_mutation_is_lost_in_flask_itself() -> None:
    """The behaviour satchel fixes, shown on Flask's own interface."""
    app = Flask(__name__)
    app.secret_key = "k" * 32

    @app.route("/init")
    def init() -> str:
        session["cart"] = ["a"]
        return "ok"

    @app.route("/add")
    def add() -> str:
        session["cart"].append("b")
        return "ok"

    @app.route("/cart")
    def cart() -> str:
        return repr(session["cart"])

    client = app.test_client()
    client.get("/init")
    client.get("/add")
    assert client.get("/cart").text == "['a']"


def test_null_session_without_secret_key() -> None:
    app = Flask(__name__)
    from satchel import Satchel

    Satchel(app)

    @app.route("/read")
    def read() -> str:
        return repr(session.get("x"))

    @app.route("/write")
    def write() -> str:
        session["x"] = 1
        return "ok"

    client = app.test_client()
    assert client.get("/read").text == "None"
    app.testing = True
    with pytest.raises(RuntimeError, match="secret key"):
        client.get("/write")


# -- every promise of the mapping, pinned (found unpinned by a mutation run) ---------


@pytest.mark.parametrize(
    "op",
    [
        lambda s: s.setdefault("x", 5),
        lambda s: s.setdefault("new", [7]),
        lambda s: s.setdefault("none"),
        lambda s: s.pop("x"),
        lambda s: s.pop("nope", "fallback"),
        lambda s: s.popitem(),
        lambda s: s.get("x"),
        lambda s: s.get("nope", "fallback"),
        lambda s: s.get("nope"),
        lambda s: s.update({"b": 2}, c=3),
        lambda s: s.copy(),
        lambda s: sorted(s.items()),
        lambda s: sorted(s.values(), key=repr),
        lambda s: list(s),
    ],
)
def test_return_values_follow_dict(op: t.Callable[[t.Any], t.Any]) -> None:
    plain = {"x": 1, "y": [2]}
    ours = Session({"x": 1, "y": [2]})
    assert op(ours) == op(plain)
    assert dict(ours) == plain


def test_ior_returns_the_session_itself_and_marks_the_keys() -> None:
    s = Session({"a": 1})
    alias = s
    alias |= {"b": 2, "c": [3]}
    assert alias is s and type(alias) is Session
    assert dict(s) == {"a": 1, "b": 2, "c": [3]}
    assert s.modified and s.changed_keys == {"b", "c"}


def test_every_write_names_its_key() -> None:
    cases: list[tuple[t.Callable[[Session], t.Any], set[str]]] = [
        (lambda s: s.update({"b": 2}, c=3), {"b", "c"}),
        (lambda s: s.update([("d", 4)]), {"d"}),
        (lambda s: s.popitem(), {"y"}),  # dicts pop the last item
        (lambda s: s.setdefault("n", 1), {"n"}),
        (lambda s: s.setdefault("x", 9), set()),
        (lambda s: s.pop("x"), {"x"}),
        (lambda s: s.pop("missing", None), set()),
        (lambda s: s.__delitem__("x"), {"x"}),
        (lambda s: s.mark_changed(["x", "y"]), {"x", "y"}),
    ]
    for op, keys in cases:
        s = Session({"x": 1, "y": 2})
        op(s)
        assert s.changed_keys == keys, keys
        assert s.modified is bool(keys)


def test_setdefault_present_returns_the_stored_value_tracked() -> None:
    s = Session({"cart": [1]})
    got = s.setdefault("cart", ["other"])
    assert got == [1] and got is dict.__getitem__(s, "cart")
    got.append(2)
    assert s.collect_changes() and s.changed_keys == {"cart"}


def test_a_key_set_then_mutated_is_saved_once_as_set() -> None:
    s = Session()
    s["cart"] = []
    s["cart"].append(1)  # already dirty: no snapshot needed
    assert s._seen == {}
    assert s.collect_changes() and s.changed_keys == {"cart"}


def test_a_value_deleted_after_being_read_is_a_deletion_only() -> None:
    s = Session({"cart": [1], "n": 1})
    _ = s["cart"]
    dict.__delitem__(s, "cart")  # gone without __delitem__: nothing to compare with
    assert s.collect_changes() is False
    assert s.changed_keys == frozenset()


def test_unserializable_value_read_out_counts_as_changed() -> None:
    s = Session({"obj": object()})
    _ = s["obj"]
    assert s._seen == {"obj": None}
    assert s.collect_changes() and s.changed_keys == {"obj"}


def test_collect_changes_forgets_its_snapshots() -> None:
    s = Session({"cart": [1]})
    s["cart"].append(2)
    assert s.collect_changes()
    assert s._seen == {}


def test_flags_and_life_cycle() -> None:
    s = Session({"a": 1}, new=True, created=1234.5)
    assert s.new and s.created == 1234.5 and s.user is None and s.bind_user is None
    assert s.modified is False and s.accessed is False and s.cleared is False
    assert s.regenerate_requested is False and s.destroyed is False
    assert Session().new is False and Session().created is None
    s.regenerate()
    assert s.regenerate_requested and s.modified and dict(s) == {"a": 1}
    s.destroy()
    assert s.destroyed and dict(s) == {} and s.cleared


def test_permanent_is_stored_as_a_bool() -> None:
    s = Session()
    s.permanent = 1  # type: ignore[assignment]
    assert dict.__getitem__(s, "_permanent") is True and s.permanent is True
    s.permanent = False
    assert dict.__getitem__(s, "_permanent") is False and s.permanent is False
    assert Session({"_permanent": 0}).permanent is False


def test_copy_is_a_plain_dict() -> None:
    s = Session({"a": [1]})
    copied = s.copy()
    assert type(copied) is dict and copied == {"a": [1]}
    copied["b"] = 2
    assert "b" not in s


def test_repr_names_the_class_and_data() -> None:
    assert repr(Session({"a": 1})) == "<Session {'a': 1}>"


def test_pop_of_a_missing_key_names_it() -> None:
    with pytest.raises(KeyError) as raised:
        Session().pop("cart")
    assert raised.value.args == ("cart",)


@pytest.mark.parametrize(
    "read", [lambda s: list(s.items()), lambda s: list(s.values()), lambda s: s.copy()]
)
def test_reading_everything_without_mutation_is_not_a_change(
    read: t.Callable[[Session], t.Any],
) -> None:
    s = Session({"cart": [1, 2], "prefs": {"a": 1}})
    read(s)
    assert s.collect_changes() is False and s.changed_keys == frozenset()


def test_a_mutation_after_a_rewritten_or_deleted_key_is_still_found() -> None:
    s = Session({"a": [1], "b": [2], "c": [3]})
    _ = s["a"], s["b"], s["c"]
    s["a"] = [9]  # dirty already: skipped at save time
    dict.__delitem__(s, "b")  # gone: skipped too
    s["c"].append(4)  # ...but this one must still be found
    assert s.collect_changes() and s.changed_keys == {"a", "c"}
