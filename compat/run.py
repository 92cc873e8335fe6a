"""Run the test suites of Flask, Flask-Login and Flask-WTF with satchel swapped in.

Each suite comes from its sdist, at the version installed here, and runs
unchanged: once with Flask's own session (mode ``flask``) and once per satchel
mode (``satchel_plugin.MODES``). The run fails when a test that passes with
Flask's session does not pass in a satchel mode, unless compat/known_failures.txt
lists it with a reason. One line per suite and mode::

    flask-login redis: 114 passed, 0 failed

"failed" counts only such regressions; a test that fails with Flask's own session
too is "excluded" (it says nothing about satchel).

Usage: ``.venv/bin/python compat/run.py [--suite NAME] [--mode MODE] [-j N]``
(test dependencies: ``pip install -e '.[compat]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from satchel_plugin import MODES

HERE = Path(__file__).resolve().parent
# suite name -> distribution on the package index
SUITES = {"flask": "flask", "flask-login": "flask-login", "flask-wtf": "flask-wtf"}
KNOWN = HERE / "known_failures.txt"
TIMEOUT = 900  # seconds for one suite in one mode


@dataclass
class Run:
    suite: str
    mode: str
    outcomes: dict[str, str]
    error: str | None
    log: Path


def sdist(dist: str, cache: Path) -> Path:
    """The unpacked sdist of ``dist`` at its installed version (downloaded once)."""
    pinned = f"{dist}=={version(dist)}"
    where = cache / "sdist" / pinned
    unpacked = cache / "src" / pinned
    if not (unpacked / ".complete").exists():
        archives = list(where.glob("*.tar.gz"))
        for attempt in range(3):
            if archives:
                break
            if attempt:
                time.sleep(10 * attempt)  # the index may be briefly unreachable
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "-q",
                    "--no-binary",
                    ":all:",
                    "--no-deps",
                    pinned,
                    "-d",
                    str(where),
                ],
                check=False,
            )
            archives = list(where.glob("*.tar.gz"))
        if not archives:
            raise SystemExit(f"compat: could not download the sdist of {pinned}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(unpacked, filter="data")
        (unpacked / ".complete").touch()
    (top,) = (p for p in unpacked.iterdir() if p.is_dir())
    return top


def run_suite(suite: str, mode: str, source: Path, cache: Path) -> Run:
    """Run ``suite``'s tests in ``mode``; each test's outcome from the plugin."""
    name = f"{suite}-{mode}"
    results, log = cache / "results" / f"{name}.json", cache / "logs" / f"{name}.log"
    for path in (results, log):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "COLUMNS": "200",
        "PYTHONPATH": os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH")) if p),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "--tb=short",
        "-rfE",
        "-p",
        "no:cacheprovider",
        "-p",
        "satchel_plugin",
        f"--satchel-mode={mode}",
        f"--satchel-results={results}",
    ]
    with log.open("w") as out, tempfile.TemporaryDirectory(prefix="satchel-compat-") as tmp:
        command.append(f"--basetemp={tmp}/{name}")
        try:
            code = subprocess.run(
                command,
                cwd=source,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=TIMEOUT,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    error = None
    if code not in (0, 1) or not results.exists():  # 1 is "some tests failed"
        error = f"pytest exited with {code} (see {log})"
    outcomes = json.loads(results.read_text()) if results.exists() else {}
    return Run(suite, mode, outcomes, error, log)


def known_failures() -> dict[tuple[str, str, str], str]:
    """(suite, mode or "*", test id) -> the reason it cannot pass."""
    known = {}
    for line in KNOWN.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            fields = line.split(maxsplit=3)
            if len(fields) < 4:
                raise SystemExit(f"compat/known_failures.txt: no reason given in {line!r}")
            suite, mode, test, reason = fields
            known[suite, mode, test] = reason
    return known


def report(run: Run, baseline: Run, known: dict[tuple[str, str, str], str]) -> bool:
    """Print the run's line (and what newly fails below it); True if it is clean."""
    excluded = {test for test, outcome in baseline.outcomes.items() if outcome != "passed"}
    lost = [
        test
        for test, outcome in baseline.outcomes.items()
        if outcome == "passed" and run.outcomes.get(test) != "passed"
    ]
    listed = [t for t in lost if {(run.suite, m, t) for m in (run.mode, "*")} & known.keys()]
    failed = [t for t in lost if t not in listed]
    passed = sum(outcome == "passed" for outcome in run.outcomes.values())
    line = f"{run.suite} {run.mode}: {passed} passed, {len(failed)} failed"
    failing_here = sum(run.outcomes.get(t) == "failed" for t in excluded)
    if failing_here:
        line += f", {failing_here} excluded (failing with Flask's own session)"
    if listed:
        line += f", {len(listed)} known (compat/known_failures.txt)"
    print(line + (f" -- ERROR: {run.error}" if run.error else ""), flush=True)
    summary = run.log.read_text().splitlines() if failed else []
    for test in failed:
        detail = next(
            (s for s in summary if s.startswith(("FAILED", "ERROR")) and test in s),
            f"{run.outcomes.get(test, 'did not run')} {test}",
        )
        print(f"    {detail}", flush=True)
    for suite, mode, test in known if run.mode != "flask" else ():
        if suite == run.suite and mode in (run.mode, "*") and run.outcomes.get(test) == "passed":
            print(f"    in compat/known_failures.txt, yet passes in this mode: {test}")
    return not failed and run.error is None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", action="append", choices=SUITES, help="default: all")
    parser.add_argument("--mode", action="append", choices=MODES[1:], help="default: all")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="suites run at once")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".compat-cache")
    args = parser.parse_args()
    suites, modes = args.suite or list(SUITES), ["flask", *(args.mode or MODES[1:])]
    sources = {suite: sdist(SUITES[suite], args.cache) for suite in suites}
    known = known_failures()
    jobs = [(suite, mode) for suite in suites for mode in modes]

    def one(job: tuple[str, str]) -> Run:
        return run_suite(*job, sources[job[0]], args.cache)

    started = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one, jobs))
    ok = True
    for suite in suites:
        mine = [r for r in runs if r.suite == suite]
        baseline = mine[0]
        for each in mine:
            ok = report(each, baseline, known) and ok
    seconds = time.monotonic() - started
    print(f"compat: {'OK' if ok else 'FAILED'} ({len(runs)} runs in {seconds:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
