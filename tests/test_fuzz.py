"""The atheris fuzz target, run for a bounded time (see ``fuzz/fuzz_cookies.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).parent.parent / "fuzz" / "fuzz_cookies.py"
SECONDS = int(os.environ.get("SATCHEL_FUZZ_SECONDS", "20"))


def test_fuzz_cookie_and_id_parsing(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            str(TARGET),
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=1024",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS + 400,  # atheris instruments every module first: slow on a busy machine
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Done" in output
    assert len(list(corpus.iterdir())) > 3  # it explored beyond the seeds
