"""Run every benchmark and write the results, the charts and the README's tables.

    .venv/bin/python bench/all.py [--quick]

Installs what the benchmarks need if it is missing (the ``bench`` extra,
Debian's ``wrk``), then runs, one after the other: the in-process comparison
(``run.py``), the HTTP load test (``loadtest.py``), the race demonstration
(``races.py``) and the SQLite scale check (``scale.py``), and finally
``report.py``. ``--quick`` shortens every run (for a smoke test, not figures).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def ensure_tools() -> None:
    if (
        importlib.util.find_spec("flask_session") is None
        or importlib.util.find_spec("gunicorn") is None
    ):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev,bench]"], check=True
        )
    if shutil.which("wrk") is None and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)


def run(script: str, *args: str) -> None:
    print(f"== {script} {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ensure_tools()
    RESULTS.mkdir(exist_ok=True)
    quick = args.quick
    run(
        "run.py",
        "--rounds",
        "3" if quick else "15",
        "--n",
        "300" if quick else "2000",
        "--json",
        str(RESULTS / "inprocess.json"),
    )
    if shutil.which("wrk"):
        run("loadtest.py", "--seconds", "1" if quick else "5", "--json", str(RESULTS / "http.json"))
    run("races.py", "--rounds", "1" if quick else "3", "--json", str(RESULTS / "races.json"))
    if (HERE / "scale.py").exists():
        sizes = ["1000", "10000"] if quick else ["1000", "100000", "1000000"]
        run("scale.py", "--sizes", *sizes, "--json", str(RESULTS / "scale.json"))
    run("report.py")


if __name__ == "__main__":
    main()
