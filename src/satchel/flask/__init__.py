"""Flask glue: the session interface and the ``Satchel`` extension."""

from __future__ import annotations

import typing as t

from ..signing import Clock
from .interface import SatchelSessionInterface, install

if t.TYPE_CHECKING:
    from flask import Flask

__all__ = ["Satchel", "SatchelSessionInterface"]


class Satchel:
    """The Flask extension: ``Satchel(app)`` or ``Satchel().init_app(app)``.

    It installs a :class:`SatchelSessionInterface` on the app after checking
    the session settings, so a misconfiguration fails at start-up with a
    message saying what to change instead of misbehaving in browsers.

    :param clock: returns the current time in seconds; for tests.
    """

    def __init__(self, app: Flask | None = None, *, clock: Clock | None = None) -> None:
        self.clock = clock
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Check ``app``'s session settings and install satchel's interface.

        :raises satchel.ConfigError: if a setting is unsafe or inconsistent.
        """
        interface = (
            SatchelSessionInterface(clock=self.clock) if self.clock else SatchelSessionInterface()
        )
        install(app, interface)
        app.extensions["satchel"] = self
