"""The demo app: the article's user service on satchel sessions.

``satchel demo`` starts it; ``flask --app satchel.demo:create_app run`` works too.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
