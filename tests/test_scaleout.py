"""CI-sized Redis Cluster failover drill over real HTTP (the full rig: ``bench/cluster/run.py``).

A cluster of 3 masters with a replica each, two gunicorn app nodes and
round-robin clients that each keep a counter in their session. One master is
SIGKILLed; its replica takes over; the killed node comes back as a replica.
With ``wait_replicas=1`` no acknowledged write may be lost, failures must be
503s confined to the failover, no session may be lost, and the per-user index
must match the records exactly afterwards.
"""

from __future__ import annotations

import sys
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "bench" / "cluster"))

from app import make_store
from load import index_check, run_load
from rig import AppNodes, cluster_url

from .stores.cluster import LocalCluster
from .stores.conftest import unavailable


def test_a_master_killed_under_load_loses_no_acknowledged_write() -> None:
    try:
        cluster = LocalCluster.start(masters=3, replicas=1, node_timeout_ms=1000)
    except (OSError, RuntimeError) as e:
        unavailable("a replicated Redis Cluster (redis-server binary)", e)
    marks: dict[str, float] = {}
    try:
        url = cluster_url(cluster, wait_replicas=1, wait_timeout_ms=200)
        victim = cluster.masters()[0]
        started = time.monotonic()

        def fault() -> None:
            time.sleep(1.0)
            marks["fault"] = time.monotonic() - started
            cluster.kill_node(victim)
            deadline = time.monotonic() + 20
            while victim in cluster.masters() or len(cluster.masters()) < 3:
                assert time.monotonic() < deadline, "no replica took over"
                time.sleep(0.05)
            marks["promoted"] = time.monotonic() - started
            cluster.start_node(victim)  # back as a replica: durable writes can succeed again
            cluster.wait_replicas_linked(20)
            marks["recovered"] = time.monotonic() - started

        with AppNodes(2, url, "scaleout_ci") as nodes:
            started = time.monotonic()
            result = run_load(
                nodes.ports, clients=6, seconds=16, max_requests=400, during=fault, pause=0.05
            )
        store: t.Any = make_store(url, "scaleout_ci")
        index = index_check(store, [c.user for c in result.clients])
    finally:
        cluster.stop()
    summary = result.summary()
    assert "recovered" in marks, marks
    assert set(result.statuses) <= {200, 503}, summary  # a clear 503, never a 500
    assert result.statuses.get(503, 0) > 0, "the failover was not noticed"
    assert result.lost_writes == 0, summary
    assert result.sessions_lost == 0 and result.final_unreadable == 0, summary
    # Recovered by itself: once the old master is back as a replica (and a moment for a
    # loaded machine to settle), durable writes are acknowledged again.
    late = [s for s in result.samples if s[0] - result.started > marks["recovered"] + 1.0]
    assert late and all(status == 200 for _, _, status in late[-20:]), (marks, summary)
    assert index == {"users": 6, "missing": 0, "leaked": 0}
    assert 200 < len(result.samples) <= 6 * 400
