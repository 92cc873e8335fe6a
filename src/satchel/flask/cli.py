"""``flask session``: satchel's commands on the Flask CLI.

``Satchel(app)`` registers the group on ``app.cli``. Commands:

``flask session check [--json]``
    Review the app's session settings (:func:`satchel.checks.run_checks`) and
    print each finding with what to set. Exits 0 when there is none, 1 when
    there are findings, so it can gate a deployment.
``flask session stats [--soon SECONDS] [--json]``
    Live sessions: how many, in which store, per user, expiring soon.
``flask session list [--user U] [--limit N] [--json]``
    One line per session: its handle, user, device, created, last seen, expiry.
``flask session show HANDLE [--json]``
    A session's decoded data.
``flask session revoke HANDLE | --user U | --all``
    End sessions; effective on each device's next request.
``flask session purge [--batch N]``
    Delete expired sessions, a batch at a time, showing progress and a count.
``flask session decode COOKIE [--json]``
    Verify a session cookie with the app's keys and print what it holds.

Sessions are named by handles (the hash their store files them under), never
by id. A wrong argument gives a one-line error and exit status 2, never a
traceback; a store that cannot be reached gives a one-line error and exit 1.
"""

from __future__ import annotations

import json
import sys
import typing as t
import unicodedata
from datetime import datetime, timezone

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ..checks import run_checks
from ..exc import SatchelError
from ..ids import hash_id
from ..server import ServerSessions, SessionInfo
from ..tagged import session_json

if t.TYPE_CHECKING:
    from .interface import SatchelSessionInterface


class _UsageError(click.UsageError):
    """A usage error shown on one line, without the usage block."""

    def show(self, file: t.IO[t.Any] | None = None) -> None:
        where = f"{self.ctx.command_path}: " if self.ctx is not None else ""
        click.echo(f"Error: {where}{self.format_message()} (see --help)", err=True)


def _one_line(error: click.UsageError, ctx: click.Context) -> _UsageError:
    return _UsageError(error.format_message(), error.ctx or ctx)


#: Click 8.2's "no arguments: show the help" error, which is help, not a mistake.
_HELP: tuple[type[click.UsageError], ...] = tuple(
    c for c in [getattr(click.exceptions, "NoArgsIsHelpError", None)] if c is not None
)


class _Command(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            if isinstance(e, _UsageError):
                raise
            raise _one_line(e, ctx) from None


class SessionGroup(AppGroup):
    """The ``session`` command group; its commands run inside the app context."""

    command_class = _Command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            if isinstance(e, (_UsageError, *_HELP)):
                raise
            raise _one_line(e, ctx) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as e:
            raise _one_line(e, ctx) from None


@click.group("session", cls=SessionGroup)
def session_cli() -> None:
    """Inspect satchel sessions and their settings."""


@session_cli.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check_command(as_json: bool) -> None:
    """Review the session settings; exit status 1 if anything is unsafe."""
    app = current_app
    try:
        findings = run_checks(app.config, debug=app.debug)
    except SatchelError as e:  # a broken setting: say so on one line
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "app": app.name,
                    "debug": app.debug,
                    "findings": [f.as_dict() for f in findings],
                },
                indent=2,
            )
        )
    elif findings:
        click.echo(f"satchel: {len(findings)} finding(s) in the session settings of {app.name!r}:")
        for finding in findings:
            click.echo(finding.format())
        click.echo("satchel.HARDENED sets every recommended value: see satchel.presets.")
    else:
        click.echo(f"satchel: the session settings of {app.name!r} pass every check.")
    if findings:
        click.get_current_context().exit(1)


# -- operating on stored sessions ------------------------------------------------


def _app() -> Flask:
    return t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]


def _manager() -> ServerSessions:
    app = _app()
    manager = getattr(app.session_interface, "server_sessions", lambda app: None)(app)
    if manager is None:
        raise click.ClickException(
            "sessions are in signed cookies (SESSION_STORE is not set): there is nothing"
            " stored to list or revoke"
        )
    return t.cast(ServerSessions, manager)


def _now(manager: ServerSessions) -> int:
    return int(manager.clock())


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


#: Control (C0, DEL, C1), format (bidi overrides, zero-width), surrogate and
#: line/paragraph separator characters: what can move a terminal's cursor,
#: rewrite its title, or make text read differently from what it holds.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def printable(text: object) -> str:
    """``text`` safe to print on an operator's terminal (R46).

    Every control, format (bidi override), surrogate or separator character is
    shown as its Python escape (``\\x1b``, ``\\u202e``), so stored text that an
    attacker chose (a user agent, a user id, a value) cannot send escape
    sequences to the terminal or reorder what the operator reads.
    """
    text = str(text)
    if text.isprintable():  # the usual case, and cheap
        return text
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(c) in _HIDDEN
        else c
        for c in text
    )


def _print_json(data: t.Any) -> None:
    # ensure_ascii: C1 controls and bidi overrides are escaped too, not only C0.
    click.echo(json.dumps(data, indent=2, ensure_ascii=True, default=str))


def _table(rows: list[list[str]], header: list[str]) -> None:
    rows = [[printable(c) for c in row] for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def _guard(fn: t.Callable[..., None]) -> t.Callable[..., None]:
    """Turn a store outage or a satchel error into a one-line error, exit 1."""
    import functools

    @functools.wraps(fn)
    def run(*args: t.Any, **kwargs: t.Any) -> None:
        try:
            fn(*args, **kwargs)
        except SatchelError as e:
            raise click.ClickException(str(e)) from None

    return run


def _infos(manager: ServerSessions, user: str | None) -> t.Iterator[SessionInfo]:
    if user is not None:
        yield from manager.sessions_of(user)
        return
    for key, record in manager.store.scan(_now(manager)):
        yield manager.info(key, record, None)


@session_cli.command("stats")
@click.option(
    "--soon",
    default=3600,
    show_default=True,
    type=click.IntRange(0),
    help="Count sessions expiring within this many seconds.",
)
@click.option(
    "--top", default=10, show_default=True, type=click.IntRange(1), help="How many users to show."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def stats_command(soon: int, top: int, as_json: bool) -> None:
    """Count live sessions: in all, per user, expiring soon."""
    manager = _manager()
    now = _now(manager)
    total = anonymous = expiring = 0
    users: dict[str, int] = {}
    for _, record in manager.store.scan(now):
        total += 1
        if record.user is None:
            anonymous += 1
        else:
            users[record.user] = users.get(record.user, 0) + 1
        if record.expires - now <= soon:
            expiring += 1
    by_user = sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    result = {
        "store": type(manager.store).__name__,
        "sessions": total,
        "anonymous": anonymous,
        "users": len(users),
        "expiring_within": {"seconds": soon, "sessions": expiring},
        "top_users": dict(by_user),
    }
    if as_json:
        _print_json(result)
        return
    click.echo(f"store       {result['store']}")
    click.echo(f"sessions    {total} ({anonymous} anonymous, {len(users)} users)")
    click.echo(f"expiring    {expiring} within {soon} s")
    if by_user:
        click.echo("top users")
        _table([[u, str(n)] for u, n in by_user], ["user", "sessions"])


@session_cli.command("list")
@click.option("--user", help="Only this user's sessions.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def list_command(user: str | None, limit: int, as_json: bool) -> None:
    """List live sessions (handles, never ids)."""
    infos = []
    for info in _infos(_manager(), user):
        infos.append(info)
        if len(infos) >= limit:
            break
    if as_json:
        _print_json([{k: v for k, v in info.__dict__.items() if k != "current"} for info in infos])
        return
    rows = [
        [
            i.handle,
            i.user or "-",
            i.ip or "-",
            (i.user_agent or "-")[:30],
            _when(i.created),
            _when(i.last_seen),
            _when(i.expires),
        ]
        for i in infos
    ]
    _table(rows, ["handle", "user", "ip", "device", "created", "last seen", "expires"])
    click.echo(f"{len(infos)} session(s)")


def _record(manager: ServerSessions, handle: str) -> t.Any:
    record = manager.store.load(handle, _now(manager))
    if record is None:
        raise click.ClickException(f"no live session has the handle {printable(repr(handle))}")
    return record


def _decoded(manager: ServerSessions, handle: str, data: dict[str, str]) -> dict[str, t.Any]:
    from ..server import DEVICE_KEY

    texts = manager.fields.decode(handle, data).texts
    texts.pop(DEVICE_KEY, None)
    values: dict[str, t.Any] = {}
    for name, text in sorted(texts.items()):
        try:
            values[name] = session_json.loads(text)
        except ValueError:
            values[name] = f"<unreadable: {text[:40]!r}>"
    return values


@session_cli.command("show")
@click.argument("handle")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def show_command(handle: str, as_json: bool) -> None:
    """Print one session's decoded data."""
    manager = _manager()
    record = _record(manager, handle)
    info = manager.info(handle, record, None)
    data = _decoded(manager, handle, record.data)
    if as_json:
        _print_json({**{k: v for k, v in info.__dict__.items() if k != "current"}, "data": data})
        return
    click.echo(f"handle      {printable(handle)}")
    click.echo(f"user        {printable(info.user or '-')}")
    device = printable(f"{info.ip or '-'} {info.user_agent or ''}")
    click.echo(f"device      {device}".rstrip())
    click.echo(f"created     {_when(info.created)}")
    click.echo(f"last seen   {_when(info.last_seen)}")
    click.echo(f"expires     {_when(info.expires)}")
    click.echo("data")
    for name, value in data.items():
        click.echo(f"  {printable(name)} = {printable(repr(value))}")


@session_cli.command("revoke")
@click.argument("handle", required=False)
@click.option("--user", help="End every session of this user.")
@click.option("--all", "everything", is_flag=True, help="End every session.")
@_guard
def revoke_command(handle: str | None, user: str | None, everything: bool) -> None:
    """End a session (HANDLE), a user's sessions (--user) or all (--all)."""
    if sum(x is not None and x is not False for x in (handle, user, everything)) != 1:
        raise _UsageError("give exactly one of HANDLE, --user USER or --all")
    manager = _manager()
    if handle is not None:
        if not manager.revoke(handle):
            raise click.ClickException(f"no live session has the handle {printable(repr(handle))}")
        click.echo("revoked 1 session")
        return
    if user is not None:
        click.echo(f"revoked {manager.revoke_user(user)} session(s) of {printable(repr(user))}")
        return
    keys = [key for key, _ in manager.store.scan(_now(manager))]
    ended = sum(manager.revoke(key) for key in keys)
    click.echo(f"revoked {ended} session(s)")


@session_cli.command("purge")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@_guard
def purge_command(batch: int) -> None:
    """Delete expired sessions, a batch at a time (safe to run anywhere, any time)."""
    manager = _manager()
    total = 0
    tty = sys.stderr.isatty()
    for count in manager.store.purge(_now(manager), batch):
        total += count
        if tty:
            click.echo(f"\rpurging: {total} deleted", nl=False, err=True)
        else:
            click.echo(f"purging: {total} deleted", err=True)
    if tty and total:
        click.echo("", err=True)
    click.echo(f"purged {total} expired session(s)")


@session_cli.command("decode")
@click.argument("cookie")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_guard
def decode_command(cookie: str, as_json: bool) -> None:
    """Verify a session cookie with the app's keys and print what it holds.

    A server-side id may start with "-": pass it as ``name=value`` (the
    Set-Cookie form) or after ``--``.
    """
    app = _app()
    interface = t.cast("SatchelSessionInterface", app.session_interface)
    value = (
        cookie.split("=", 1)[1]
        if cookie.startswith(interface.get_cookie_name(app) + "=")
        else cookie
    )
    manager = getattr(interface, "server_sessions", lambda app: None)(app)
    result: dict[str, t.Any]
    if manager is not None:
        try:
            sid, current = manager.signer.unsign(value)
        except Exception:
            raise click.ClickException("not a valid session id for this app's keys") from None
        handle = hash_id(sid)
        record = manager.store.load(handle, _now(manager))
        result = {
            "kind": "server-side id",
            "handle": handle,
            "signed_by": "current key" if current else "a fallback key",
            "live": record is not None,
            "data": None if record is None else _decoded(manager, handle, record.data),
        }
    else:
        serializer = interface.get_signing_serializer(app)
        if serializer is None:
            raise click.ClickException("the app has no SECRET_KEY")
        lifetime = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at, current = serializer.open(value, None, want_timestamp=True)
        except Exception:
            raise click.ClickException("the cookie does not verify with this app's keys") from None
        now = int(interface.clock())
        result = {
            "kind": "encrypted cookie"
            if app.config.get("SESSION_COOKIE_ENCRYPTED")
            else "signed cookie",
            "signed_by": "current key" if current else "a fallback key",
            "signed_at": None if signed_at is None else _when(signed_at),
            "expired": signed_at is not None and now - signed_at > lifetime,
            "data": data,
        }
    if as_json:
        _print_json(result)
        return
    for name, item in result.items():
        if name != "data":
            click.echo(f"{name:<11} {printable(item)}")
    click.echo("data")
    for name, item in sorted((result["data"] or {}).items()):
        click.echo(f"  {printable(name)} = {printable(repr(item))}")
