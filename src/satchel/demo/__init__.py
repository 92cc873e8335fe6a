"""The demo app: the article's user service on satchel sessions.

``satchel demo`` starts it; ``flask --app satchel.demo:create_app run`` works
too. Modules: :mod:`.app` (the factory), :mod:`.models` (``User``),
:mod:`.user` (the article's blueprint), :mod:`.account` (login, logout and
"your sessions"), :mod:`.throttle` (failed sign-ins slow down), :mod:`.redirects`
(``?next=`` stays on the site) and :mod:`.cli` (the ``satchel`` command).
"""

from __future__ import annotations

import os
import typing as t

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = ["create_app"]


def create_app(
    config: t.Mapping[str, t.Any] | None = None,
    *,
    instance_path: str | os.PathLike[str] | None = None,
) -> Flask:
    """Build the demo app (see :func:`satchel.demo.app.create_app`)."""
    # Imported here so that ``satchel --help`` works without the demo's extras.
    from .app import create_app as factory

    return factory(config, instance_path=instance_path)
