"""CI-sized load and fault drills over real HTTP (the full ones: ``bench/drills.py``),
and the race demonstration against satchel's stores (``bench/races.py``)."""

from __future__ import annotations

import os
import shutil
import sys
import typing as t
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))

from drills import RedisServer, outage, postgres_restart, soak
from races import Server, logout_undone, lost_update
from setups import cleanup

from .stores.conftest import REQUIRE


@pytest.fixture(autouse=True, scope="module")
def _drop_what_the_servers_stored() -> t.Iterator[None]:
    yield
    cleanup()


def start(name: str) -> Server:
    try:
        return Server(name).__enter__()
    except RuntimeError as e:
        if REQUIRE:
            raise
        pytest.skip(f"{name}: {str(e).splitlines()[-1]}")


@pytest.mark.parametrize("setup", ["satchel-memory", "satchel-sqlite", "satchel-redis"])
def test_soak_loses_nothing(setup: str) -> None:
    server = start(setup)
    try:
        result = soak(server.port, clients=6, requests=40)
    finally:
        server.__exit__(None, None, None)
    assert result.statuses == {200: 240}
    assert result.intact, (result.ok, result.counters)


@pytest.mark.parametrize(
    "setup",
    ["satchel-memory", "satchel-sqlite", "satchel-postgres", "satchel-mysql", "satchel-redis"],
)
def test_races_keep_both_writes_and_stay_logged_out(setup: str) -> None:
    server = start(setup)
    try:
        assert lost_update(server.port), "a concurrent write was lost"
        assert not logout_undone(server.port), "a logged-out session came back"
    finally:
        server.__exit__(None, None, None)


def test_redis_stopped_and_restarted_mid_run(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("redis-server") is None:
        if REQUIRE:
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    redis_server = RedisServer()
    redis_server.start()
    monkeypatch.setenv("SATCHEL_BENCH_REDIS_URL", redis_server.url)
    try:
        server = start("satchel-redis")
        try:
            fault = outage(redis_server.stop, redis_server.start, after=0.3, down=1.0)
            result = soak(server.port, clients=4, requests=60, during=fault, pause=0.01)
        finally:
            server.__exit__(None, None, None)
    finally:
        redis_server.close()
    assert set(result.statuses) <= {200, 503}, result.statuses  # a clear 503, never a 500
    assert result.statuses.get(503, 0) > 0, "the outage was not noticed"
    assert result.statuses.get(200, 0) > 0
    # no session corrupted, no acknowledged write lost (see bench/drills.py on "in doubt")
    assert result.nothing_lost(), (result.ok, result.failed, result.counters)


def test_postgres_restarted_mid_run() -> None:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        if REQUIRE:
            pytest.fail("restarting PostgreSQL needs root and pg_ctlcluster")
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster")
    server = start("satchel-postgres")
    try:
        fault = outage(lambda: None, postgres_restart, after=0.3, down=0.0)
        result = soak(server.port, clients=4, requests=60, during=fault, pause=0.01)
    finally:
        server.__exit__(None, None, None)
    assert set(result.statuses) <= {200, 503}, result.statuses
    assert result.statuses.get(200, 0) > 0
    assert result.nothing_lost(), (result.ok, result.failed, result.counters)
