"""The benchmark app as a WSGI module for gunicorn: ``SATCHEL_BENCH_SETUP=name``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import make_app
from setups import SETUPS, quiet_checks

quiet_checks()
_setup = SETUPS[os.environ["SATCHEL_BENCH_SETUP"]]
app = make_app(_setup, uses_session=_setup is not None)
