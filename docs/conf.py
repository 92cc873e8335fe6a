"""Sphinx configuration: sphinx-build -W --keep-going -b html docs docs/_build/html."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import satchel

project = "satchel"
author = "the satchel developers"
copyright = "the satchel developers"
release = version = satchel.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "satchel_settings",
]

html_theme = "furo"
html_title = f"satchel {release}"
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Names are shown as written: satchel.Satchel, not satchel.flask.Satchel.
add_module_names = False

# The examples are written as in an app module (Flask(__name__)); doctest runs
# them in a namespace whose __name__ is "builtins", which Flask cannot locate.
doctest_global_setup = """
__name__ = "example_app"
import logging, secrets
# The examples' apps are not production set-ups: keep the start-up advice out.
logging.getLogger("satchel.checks").setLevel(logging.ERROR)
"""
