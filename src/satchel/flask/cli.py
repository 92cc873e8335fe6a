"""``flask session``: satchel's commands on the Flask CLI.

``Satchel(app)`` registers the group on ``app.cli``. Commands:

``flask session check [--json]``
    Review the app's session settings (:func:`satchel.checks.run_checks`) and
    print each finding with what to set. Exits 0 when there is none, 1 when
    there are findings, so it can gate a deployment.

A wrong argument gives a one-line error and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

from ..checks import run_checks
from ..exc import SatchelError


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
