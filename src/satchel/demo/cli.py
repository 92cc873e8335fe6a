"""The ``satchel`` console command: ``satchel demo`` starts the demo app.

Usage errors are one line on stderr (``satchel: error: ...``) and exit 2,
instead of click's usage block.
"""

from __future__ import annotations

import sys
import typing as t

import click

# click >= 8.2 raises this for a bare group; older ones print the help themselves.
_NO_ARGS_IS_HELP: type[click.UsageError] = getattr(
    click.exceptions, "NoArgsIsHelpError", type("_Never", (click.UsageError,), {})
)


class _Group(click.Group):
    """A group whose errors are one line each."""

    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except _NO_ARGS_IS_HELP as e:  # bare `satchel`: its help, as click shows it
            click.echo(e.format_message(), err=True)
            sys.exit(e.exit_code)
        except click.ClickException as e:
            hint = " (see --help)" if isinstance(e, click.UsageError) else ""
            click.echo(f"satchel: error: {e.format_message()}{hint}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:
            sys.exit(130)
        # Without standalone mode, --help returns its exit code rather than exiting.
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=_Group)
def main() -> None:
    """satchel: sessions for Flask."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--store",
    metavar="URL",
    help="Session store URL, e.g. memory:// or redis://localhost:6379/0"
    "  [default: sqlite:///INSTANCE/sessions.db]",
)
@click.option(
    "--instance",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Folder for the users database, the session database and the secret key"
    "  [default: $SATCHEL_DEMO_DIR or ~/.local/share/satchel-demo]",
)
def demo(host: str, port: int, store: str | None, instance: str | None) -> None:
    """Start the demo app: the article's user service, with login and "your sessions"."""
    try:
        from ..exc import ConfigError
        from .app import create_app
        from .models import DEMO_PASSWORD, DEMO_USER
    except ImportError as e:
        raise click.ClickException(
            f"{e}; install the demo's dependencies: pip install 'satchel[demo]'"
        ) from e

    config = {} if store is None else {"SESSION_STORE": store}
    try:
        app = create_app(config, instance_path=instance)
    except (ConfigError, ImportError, OSError) as e:
        raise click.ClickException(str(e)) from e
    url_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"satchel demo on http://{url_host}:{port}/ (sign in as {DEMO_USER}, password"
        f" {DEMO_PASSWORD}); data in {app.instance_path}, sessions in"
        f" {app.config['SESSION_STORE']}"
    )
    try:
        app.run(host=host, port=port)
    except OSError as e:  # the port is taken, the address is not ours...
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
