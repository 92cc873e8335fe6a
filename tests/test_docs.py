"""The documentation cannot drift from the code.

* every satchel setting (``satchel.config.DEFAULTS``) is documented in
  config.py's docstring, which generates the settings page;
* every requirement cited in ``src/`` and ``tests/`` (``R12``, ``R28-R38``) is
  stated on the security page, and every test named there exists.

The site itself is built with warnings as errors, and its examples run as
doctests, by ``scripts/test``.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

from satchel import config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SECURITY = (DOCS / "security.rst").read_text()


def _settings_extension():  # type: ignore[no-untyped-def]
    path = DOCS / "_ext" / "satchel_settings.py"
    spec = importlib.util.spec_from_file_location("satchel_settings", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_documented_where_the_docs_read_it() -> None:
    documented = _settings_extension().documented_settings(config.__doc__ or "")
    assert sorted(set(config.DEFAULTS) - set(documented)) == []
    assert sorted(set(documented) - set(config.DEFAULTS)) == []
    for name, (default, text) in documented.items():
        assert default.strip() and any(line.strip() for line in text), name


def test_the_settings_parser_reads_entries_and_stops_at_prose() -> None:
    doc = """Intro.

    ``SESSION_A`` (None)
        Text of A,
        on two lines.
    ``SESSION_B`` ("raise")
        Text of B.

    Closing prose.
    """
    found = _settings_extension().documented_settings(doc)
    assert found == {
        "SESSION_A": ("None", ["Text of A,", "on two lines."]),
        "SESSION_B": ('"raise"', ["Text of B.", ""]),
    }


def _cited(text: str) -> set[int]:
    """Requirement numbers cited in ``text``: R7, and both ends and all between of R28-R38."""
    numbers: set[int] = set()
    for first, last in re.findall(r"\bR(\d+)(?:\s*[-\u2013]\s*R(\d+))?\b", text):
        numbers.update(range(int(first), int(last or first) + 1))
    return numbers


def test_every_cited_requirement_is_on_the_security_page() -> None:
    stated = {int(n) for n in re.findall(r"^R(\d+)$", SECURITY, re.MULTILINE)}
    cited: dict[int, str] = {}
    for path in [*(ROOT / "src").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]:
        for number in _cited(path.read_text()):
            cited.setdefault(number, str(path.relative_to(ROOT)))
    missing = {f"R{n}": where for n, where in cited.items() if n not in stated}
    assert missing == {}
    assert cited  # the scan found the citations


def test_the_citation_scanner_reads_ranges() -> None:
    cited = _cited("(R4), R28-R38, R17\u2013R19; not PR12 or R2D2")
    assert cited == {4, 17, 18, 19, *range(28, 39)}


def test_every_test_named_on_the_docs_exists() -> None:
    named = set()
    for page in DOCS.glob("*.rst"):
        named |= set(re.findall(r"``(tests/[\w/]+\.py)::(\w+)``", page.read_text()))
    assert len(named) > 50
    absent = []
    for file, function in sorted(named):
        path = ROOT / file
        tree = ast.parse(path.read_text()) if path.exists() else ast.Module([], [])
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if function not in defined:
            absent.append(f"{file}::{function}")
    assert absent == []
