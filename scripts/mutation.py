"""Run mutmut over one module at a time against the tests relevant to it.

Used by ``scripts/mutation`` (which sets up ``.venv``); see there. Each module
gets a fresh copy of ``src/``, ``tests/`` and ``pyproject.toml`` with a
``[tool.mutmut]`` section naming that module and its tests, so runs do not
interfere with each other or with the work tree. The score of a module is
killed / (killed + survived + timeouts + suspicious): mutants that no selected
test even reaches ("no tests") count as surviving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("SATCHEL_MUTATION_DIR", ROOT / ".mutation"))
MUTMUT = Path(sys.executable).parent / "mutmut"

# Backends other than these are left out of the core modules' runs: the core is
# the same code whatever the store, and the servers' tests cost seconds each.
LOCAL = "not postgres and not mysql and not cluster"

# name -> (module path under src/, tests, extra pytest arguments)
MODULES: dict[str, tuple[str, list[str], list[str]]] = {
    "session": (
        "satchel/session.py",
        ["tests/test_session.py", "tests/test_compat.py", "tests/test_cookie.py"],
        [],
    ),
    "tagged": (
        "satchel/tagged.py",
        # test_cookie: where an unstorable value is named (describe_unserializable)
        [
            "tests/test_compat.py",
            "tests/test_session.py",
            "tests/test_crypto.py",
            "tests/test_cookie.py",
        ],
        [],
    ),
    "signing": ("satchel/signing.py", ["tests/test_compat.py", "tests/test_cookie.py"], []),
    "crypto": (
        "satchel/crypto.py",
        ["tests/test_crypto.py", "tests/stores/test_at_rest.py"],
        ["-k", LOCAL],
    ),
    "cookie": (
        "satchel/cookie.py",
        [
            "tests/test_cookie.py",
            "tests/test_revocation.py",
            "tests/test_compat.py",
            "tests/test_crypto.py",
        ],
        [],
    ),
    "ids": (
        "satchel/ids.py",
        ["tests/test_ids.py", "tests/stores/test_server_sessions.py"],
        ["-k", "not redis and not postgres and not mysql and not sqlite"],
    ),
    "server": (
        "satchel/server.py",
        [
            "tests/stores/test_server_sessions.py",
            "tests/stores/test_users.py",
            "tests/test_server_properties.py",
            "tests/stores/test_at_rest.py",
        ],
        ["-k", LOCAL + " and not redis"],
    ),
    "fields": ("satchel/fields.py", ["tests/stores/test_at_rest.py"], ["-k", LOCAL]),
    "revocation": ("satchel/revocation.py", ["tests/test_revocation.py"], []),
    "interface": (
        "satchel/flask/interface.py",
        [
            "tests/test_compat.py",
            "tests/test_cookie.py",
            "tests/test_session.py",
            "tests/test_revocation.py",
            "tests/test_crypto.py",
            "tests/stores/test_server_sessions.py",
        ],
        ["-k", "not sqlite and " + LOCAL + " and not redis"],
    ),
    "memory": (
        "satchel/stores/memory.py",
        ["tests/stores/test_conformance.py", "tests/stores/test_memory.py"],
        ["-k", "memory"],
    ),
    "sqlite": (
        "satchel/stores/sqlite.py",
        ["tests/stores/test_conformance.py", "tests/stores/test_sqlite.py"],
        ["-k", "sqlite"],
    ),
    "redis": (
        "satchel/stores/redis.py",
        ["tests/stores/test_conformance.py", "tests/stores/test_redis.py"],
        ["-k", "redis and not cluster"],
    ),
    "sql": (
        "satchel/stores/sql.py",
        ["tests/stores/test_conformance.py", "tests/stores/test_sql.py"],
        ["-k", "postgres or test_sql.py"],
    ),
}


def prepare(name: str) -> Path:
    module, tests, extra = MODULES[name]
    where = WORK / name
    if where.exists():
        shutil.rmtree(where)
    # mutmut writes the mutated copy to mutants/src, put first on PYTHONPATH (ahead
    # of the editable install); it must exist before Python starts, or the import
    # system caches it as missing.
    (where / "mutants" / "src").mkdir(parents=True)
    shutil.copytree(ROOT / "src", where / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", where / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    # Hypothesis under mutmut's tracing: no deadlines, the same examples each run.
    (where / "tests" / "_mutation_profile.py").write_text(
        "from hypothesis import settings\n"
        "settings.register_profile('mutation', deadline=None, derandomize=True,"
        " max_examples=50, database=None)\n"
        "settings.load_profile('mutation')\n"
    )
    config = {
        "source_paths": ["src"],
        "only_mutate": [f"src/{module}"],
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-p", "tests._mutation_profile", *extra],
        "pytest_add_cli_args_test_selection": tests,
        "use_git_change_detection": False,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    text = (ROOT / "pyproject.toml").read_text() + "\n".join(lines) + "\n"
    (where / "pyproject.toml").write_text(text)
    return where


def score(where: Path) -> dict[str, object]:
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=where, check=True, capture_output=True)
    stats = json.loads((where / "mutants" / "mutmut-cicd-stats.json").read_text())
    killed = stats.get("killed", 0) + stats.get("caught_by_type_check", 0)
    alive = sum(stats.get(k, 0) for k in ("survived", "no_tests", "timeout", "suspicious"))
    total = killed + alive
    return {**stats, "score": round(100 * killed / total, 1) if total else None}


def run(name: str, jobs: int) -> dict[str, object]:
    where = prepare(name)
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(where / "mutants" / "src")}
    result = subprocess.run([str(MUTMUT), "run", "--max-children", str(jobs)], cwd=where, env=env)
    if result.returncode != 0:
        return {"error": f"mutmut exited {result.returncode}"}
    return {**score(where), "seconds": round(time.monotonic() - started)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("modules", nargs="*", help="names to run (default: all)")
    parser.add_argument("--list", action="store_true", help="show modules and their tests")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    args = parser.parse_args()
    if args.list:
        for name, (module, tests, extra) in MODULES.items():
            print(f"{name:11} src/{module}: {' '.join(tests + extra)}")
        return 0
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; see --list")
    scores_path = WORK / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    for name in args.modules or list(MODULES):
        scores[name] = run(name, args.jobs)
        WORK.mkdir(parents=True, exist_ok=True)
        scores_path.write_text(json.dumps(scores, indent=2, sort_keys=True) + "\n")
        print(f"{name}: {scores[name]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
