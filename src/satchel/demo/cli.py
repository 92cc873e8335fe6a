"""The ``satchel`` console command."""

from __future__ import annotations

import click


@click.group()
def main() -> None:
    """satchel: sessions for Flask."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
def demo(host: str, port: int) -> None:
    """Start the demo app (the article's user service)."""
    from .app import create_app

    app = create_app()
    click.echo(f"satchel demo listening on http://{host}:{port}/user/setSession")
    app.run(host=host, port=port)
