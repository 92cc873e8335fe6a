"""Flask's tagged JSON, without Flask.

The session payload is JSON in which the few non-JSON types Flask supports are
wrapped in one-key dicts whose key starts with a space (``{" t": [...]}`` for a
tuple). The format, the order in which types are checked and the JSON options
(sorted keys, ASCII escapes, compact separators, Flask's ``default`` fallback)
are exactly those of ``flask.json.tag.TaggedJSONSerializer`` under Flask's
default JSON provider, so satchel and Flask read each other's cookies. Tests in
``tests/test_tagged.py`` check that byte for byte against Flask itself.

Tagged types: tuple ``" t"``, bytes ``" b"``, Markup (anything with
``__html__``) ``" m"``, UUID ``" u"``, datetime ``" d"`` and a one-key dict whose
key looks like a tag ``" di"``.

Never pickle: only these types and plain JSON round-trip.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import typing as t
from base64 import b64decode, b64encode
from datetime import date, datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from uuid import UUID

from markupsafe import Markup

from .exc import SerializationError

#: Types that are JSON as they are and cannot hide a mutable value.
SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def http_date(value: date) -> str:
    """Format like Werkzeug's ``http_date``: naive means UTC, no microseconds."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    else:
        value = value.astimezone(timezone.utc)
    return format_datetime(value, usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    """Parse like Werkzeug's ``parse_date``: aware UTC datetime, None if invalid."""
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _json_default(o: t.Any) -> t.Any:
    # Flask's DefaultJSONProvider fallback, for values the tags leave alone.
    if isinstance(o, date):
        return http_date(o)
    if isinstance(o, (decimal.Decimal, UUID)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "__html__"):
        return str(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _untag_dict(value: dict[str, t.Any]) -> dict[str, t.Any]:
    key = next(iter(value))
    return {key[:-2]: value[key]}


#: Tag key -> function turning the tagged JSON value back into Python.
_UNTAG: dict[str, t.Callable[[t.Any], t.Any]] = {
    " di": _untag_dict,
    " t": tuple,
    " b": b64decode,
    " m": Markup,
    " u": UUID,
    " d": parse_http_date,
}


def tag(value: t.Any) -> t.Any:
    """Turn ``value`` into plain JSON types, wrapping Flask's extra types in tags."""
    cls = type(value)
    if cls in SCALARS:  # the common case first; the order below is Flask's
        return value
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            if key in _UNTAG:
                return {" di": {f"{key}__": tag(value[key])}}
        return {k: tag(v) for k, v in dict.items(value)}
    if isinstance(value, tuple):
        return {" t": [tag(item) for item in value]}
    if isinstance(value, list):
        return [tag(item) for item in value]
    if isinstance(value, bytes):
        return {" b": b64encode(value).decode("ascii")}
    if callable(getattr(value, "__html__", None)):
        return {" m": str(value.__html__())}
    if isinstance(value, UUID):
        return {" u": value.hex}
    if isinstance(value, datetime):
        return {" d": http_date(value)}
    return value


def _untag(value: dict[str, t.Any]) -> t.Any:
    # Called by the JSON decoder for every object, innermost first, which is
    # the order Flask's ``_untag_scan`` visits them in.
    if len(value) == 1:
        for key in value:
            untag = _UNTAG.get(key)
            if untag is not None:
                return untag(value[key])
    return value


_encoder = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=_json_default)
_plain_decoder = json.JSONDecoder()
_tag_decoder = json.JSONDecoder(object_hook=_untag)


class TaggedJSON:
    """Serializer with Flask's ``TaggedJSONSerializer`` interface (``dumps``/``loads``).

    It can be passed to itsdangerous as the payload serializer, and it is what
    ``SatchelSessionInterface.serializer`` holds.
    """

    def dumps(self, value: t.Any) -> str:
        """Tag ``value`` and dump it to compact JSON with sorted keys.

        :raises SerializationError: naming the first key path and type that
            cannot be stored.
        """
        try:
            return _encoder.encode(tag(value))
        except (TypeError, ValueError) as e:
            raise SerializationError(describe_unserializable(value, e)) from e

    def loads(self, value: str | bytes) -> t.Any:
        """Load JSON and turn tagged values back into their Python types."""
        text = value.decode() if isinstance(value, bytes) else value
        # Tag keys start with a space, so their JSON has a quote then a space;
        # JSON without that sequence has no tags and skips the per-object hook.
        decoder = _tag_decoder if '" ' in text else _plain_decoder
        return decoder.decode(text)


def describe_unserializable(value: t.Any, error: Exception) -> str:
    """Say where in ``value`` (a session mapping) the unstorable item sits."""
    path = _find_unserializable(value, "session")
    if path is None:
        return f"satchel: the session cannot be serialized: {error}"
    where, bad = path
    return (
        f"satchel: {where} is a {type(bad).__module__}.{type(bad).__qualname__},"
        " which the session cannot store. Store JSON types (str, int, float, bool,"
        " None, list, dict with str keys) or tuple, bytes, Markup, UUID, datetime."
    )


def _find_unserializable(value: t.Any, where: str) -> tuple[str, t.Any] | None:
    if isinstance(value, dict):
        for k, v in value.items():
            found = _find_unserializable(v, f"{where}[{k!r}]")
            if found:
                return found
        for k in value:  # only then blame keys: JSON can sort str keys alone
            if not isinstance(k, str):
                return f"a key of {where} ({k!r})", k
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_unserializable(v, f"{where}[{i}]")
            if found:
                return found
        return None
    try:
        _encoder.encode(tag(value))
    except (TypeError, ValueError):
        return where, value
    return None


#: The serializer satchel uses unless told otherwise.
session_json = TaggedJSON()
