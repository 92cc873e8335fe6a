"""The settings page, generated from satchel.config, so that it cannot drift.

``.. satchel-settings::`` renders one entry per key of
:data:`satchel.config.DEFAULTS`, with the text that config.py's module
docstring gives it. A key without text there, or text for a key that is not in
DEFAULTS, is a build warning, which CI turns into an error.
"""

from __future__ import annotations

import inspect
import re
import typing as t

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

#: A setting's entry in the docstring: ``NAME`` (default as written).
_ENTRY = re.compile(r"^``([A-Z][A-Z0-9_]*)`` \((.*)\)\s*$")


def documented_settings(doc: str) -> dict[str, tuple[str, list[str]]]:
    """Each setting of a docstring: name -> (default as written, text lines)."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in inspect.cleandoc(doc).splitlines():
        match = _ENTRY.match(line)
        if match:
            current = []
            entries[match[1]] = (match[2], current)
        elif current is not None and (line.startswith("    ") or not line.strip()):
            current.append(line[4:])
        else:
            current = None
    return entries


class SettingsDirective(SphinxDirective):
    """Every key of satchel.config.DEFAULTS with its documentation."""

    def run(self) -> list[nodes.Node]:
        from satchel import config

        documented = documented_settings(config.__doc__ or "")
        lines: list[str] = []
        messages: list[nodes.Node] = []
        for name in sorted(config.DEFAULTS):
            if name not in documented:
                messages.append(
                    self.state.document.reporter.warning(
                        f"satchel setting {name} is in DEFAULTS but not documented in"
                        " satchel/config.py's module docstring",
                        line=self.lineno,
                    )
                )
                continue
            default, text = documented[name]
            lines += [f".. _setting-{name}:", "", f"``{name}``", f"   *Default:* {default}", ""]
            lines += [f"   {line}" if line else "" for line in text]
            lines.append("")
        for name in sorted(set(documented) - set(config.DEFAULTS)):
            messages.append(
                self.state.document.reporter.warning(
                    f"{name} is documented in satchel/config.py but not in DEFAULTS",
                    line=self.lineno,
                )
            )
        container = nodes.container()
        self.state.nested_parse(StringList(lines, "satchel/config.py"), 0, container)
        return [*container.children, *messages]


def setup(app: t.Any) -> dict[str, t.Any]:
    app.add_directive("satchel-settings", SettingsDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
