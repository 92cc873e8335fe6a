"""Run the scale-out rig and every drill; write JSON and charts to bench/results/.

    .venv/bin/python bench/cluster/run.py [--seconds 6] [--clients 16] [--only NAME ...]

1. ``scaling``: req/s and p99 for 1, 2 and 4 app nodes (gunicorn, 1 worker x
   4 threads each) behind HAProxy, on a Redis Cluster (3 masters + 3 replicas)
   and on PostgreSQL (127.0.0.1:5432, db test, a table of its own, dropped
   after), with the machine's CPU use and the store work per request.
2. ``redis-failover`` / ``redis-failover-durable``: a master SIGKILLed under
   load; its replica takes over (cluster-node-timeout 1.5 s); the killed node is
   restarted afterwards and rejoins as a replica. Durable: ``wait_replicas=1``.
3. ``sentinel``: a master, a replica and three Sentinels; the master SIGKILLed.
4. ``postgres-failover``: a private primary and streaming standby; the primary
   stopped (immediate) and the standby promoted; satchel uses a multi-host URL.
5. ``node-loss``: one of three app nodes SIGKILLed under load.

After every drill the per-user index is checked against the records.
Everything binds 127.0.0.1 and is stopped at the end, also on error.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import typing as t
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from app import make_store  # noqa: E402
from load import LoadResult, index_check, run_load  # noqa: E402
from rig import (  # noqa: E402
    AppNodes,
    Balancer,
    LocalCluster,
    LocalSentinel,
    PostgresPair,
    cluster_url,
    redis_cluster,
)

RESULTS = HERE.parent / "results"
POSTGRES_URL = os.environ.get(
    "SATCHEL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def namespace(kind: str) -> str:
    return f"scaleout_{kind}_{secrets.token_hex(3)}"


def front(nodes: AppNodes) -> t.Any:
    """HAProxy in front of ``nodes``, or, without it, the nodes themselves (round-robin client)."""
    if Balancer.available():
        return Balancer(nodes.ports)

    class Direct:
        port = None
        ports = nodes.ports

        def __enter__(self) -> Direct:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    return Direct()


def targets(lb: t.Any) -> list[int]:
    return [lb.port] if lb.port is not None else list(lb.ports)


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def redis_work(cluster: LocalCluster) -> tuple[int, float]:
    """(commands, microseconds) the cluster's masters have run so far."""
    import redis

    calls, usec = 0, 0.0
    for port in cluster.masters():
        stats = redis.Redis(port=port).info("commandstats")
        for name, stat in stats.items():
            if name in ("cmdstat_info", "cmdstat_cluster", "cmdstat_ping"):
                continue
            calls += int(stat["calls"])
            usec += float(stat["usec"])
    return calls, usec


def postgres_commits(url: str) -> int:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            return int(conn.execute(sqlalchemy.text(query)).scalar_one())
    finally:
        engine.dispose()


def measure(url: str, ns: str, count: int, clients: int, seconds: float) -> dict[str, t.Any]:
    """One scaling point: ``count`` nodes under ``clients`` for ``seconds``."""
    with AppNodes(count, url, ns) as nodes, front(nodes) as lb:
        run_load(targets(lb), clients, 1.0)  # warm up: connections, scripts
        app_cpu0, (busy0, total0) = cpu_seconds(nodes.pids()), cpu_busy()
        load_cpu0 = time.process_time()
        result = run_load(targets(lb), clients, seconds)
        app_cpu = cpu_seconds(nodes.pids()) - app_cpu0
        busy1, total1 = cpu_busy()
        load_cpu = time.process_time() - load_cpu0
    ok = result.statuses.get(200, 0)
    return {
        "nodes": count,
        **result.summary(),
        "machine_cpu_busy": round((busy1 - busy0) / (total1 - total0), 3),
        "app_cpu_ms_per_request": round(1000 * app_cpu / max(ok, 1), 3),
        "load_generator_cpu_ms_per_request": round(1000 * load_cpu / max(ok, 1), 3),
    }


def scaling(clients: int, seconds: float) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {"redis-cluster": [], "postgres": []}
    cluster = redis_cluster()
    try:
        url, ns = cluster_url(cluster), namespace("scale")
        for count in (1, 2, 4):
            calls0, usec0 = redis_work(cluster)
            point = measure(url, ns, count, clients, seconds)
            calls, usec = redis_work(cluster)
            requests = point["requests"] + clients  # + logins; warm-up excluded below
            point["store_commands_per_request"] = round((calls - calls0) / max(requests, 1), 2)
            point["store_cpu_us_per_request"] = round((usec - usec0) / max(requests, 1), 1)
            out["redis-cluster"].append(point)
            print("scaling redis", point, flush=True)
    finally:
        cluster.stop()
    ns = namespace("scale")
    try:
        for count in (1, 2, 4):
            commits0 = postgres_commits(POSTGRES_URL)
            point = measure(POSTGRES_URL, ns, count, clients, seconds)
            commits = postgres_commits(POSTGRES_URL) - commits0
            # Other users of the machine's server commit too: an upper bound.
            point["store_transactions_per_request"] = round(commits / max(point["requests"], 1), 2)
            out["postgres"].append(point)
            print("scaling postgres", point, flush=True)
    finally:
        from satchel.stores.sql import SQLStore

        SQLStore.from_url(POSTGRES_URL, table=ns).drop_table()
    return out


def drill(
    url: str,
    ns: str,
    fault: t.Callable[[t.Callable[[], float], dict[str, float]], None],
    clients: int,
    seconds: float,
    nodes: int = 2,
) -> tuple[LoadResult, dict[str, t.Any]]:
    """Load ``nodes`` app nodes on ``url`` while ``fault`` runs; the findings."""
    marks: dict[str, float] = {}
    with AppNodes(nodes, url, ns) as app, front(app) as lb:
        started = time.monotonic()

        def clock() -> float:
            return round(time.monotonic() - started, 3)

        def during() -> None:
            fault(clock, marks)

        if fault is _node_loss:
            marks["_nodes"] = float(id(app))
            _APPS[id(app)] = app
        result = run_load(targets(lb), clients, seconds, during=during, pause=0.01)
    marks.pop("_nodes", None)
    store = make_store(url, ns)
    out = {
        **result.summary(),
        "marks_s": marks,
        "index": index_check(store, [c.user for c in result.clients]),
    }
    settled = marks.get("recovered", marks.get("fault", 0.0)) + 1.0
    out["failed_after_recovery"] = sum(
        1 for s in result.samples if s[0] - result.started > settled and s[2] != 200
    )
    return result, out


_APPS: dict[int, AppNodes] = {}


def _node_loss(clock: t.Callable[[], float], marks: dict[str, float]) -> None:
    app = _APPS.pop(int(marks["_nodes"]))
    time.sleep(1.5)
    marks["fault"] = clock()
    app.kill(app.ports[0])


def redis_failover(durable: bool, clients: int, seconds: float) -> dict[str, t.Any]:
    cluster = redis_cluster()
    try:
        query = {"wait_replicas": 1, "wait_timeout_ms": 200} if durable else {}
        url, ns = cluster_url(cluster, **query), namespace("failover")
        victim = cluster.masters()[0]

        def fault(clock: t.Callable[[], float], marks: dict[str, float]) -> None:
            time.sleep(1.5)
            marks["fault"] = clock()
            cluster.kill_node(victim)
            deadline = time.monotonic() + 30
            while victim in cluster.masters() or len(cluster.masters()) < 3:
                if time.monotonic() > deadline:
                    raise RuntimeError("no replica took over within 30 s")
                time.sleep(0.05)
            marks["promoted"] = clock()
            cluster.wait_ok()
            time.sleep(1.0)
            cluster.start_node(victim)  # it rejoins as the new master's replica
            cluster.wait_replicas_linked()
            marks["recovered"] = clock()

        _, out = drill(url, ns, fault, clients, seconds)
        out["wait_replicas"] = 1 if durable else 0
        return out
    finally:
        cluster.stop()


def sentinel(clients: int, seconds: float) -> dict[str, t.Any]:
    group = LocalSentinel.start()
    try:
        old = group.master()

        def fault(clock: t.Callable[[], float], marks: dict[str, float]) -> None:
            time.sleep(1.5)
            marks["fault"] = clock()
            group.kill(old)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if group.master() != old:
                        break
                except (RuntimeError, IndexError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("Sentinel did not fail over within 30 s")
                time.sleep(0.05)
            marks["recovered"] = clock()

        _, out = drill(group.url, namespace("sentinel"), fault, clients, seconds)
        return out
    finally:
        group.stop()


def postgres_failover(clients: int, seconds: float) -> dict[str, t.Any]:
    with PostgresPair() as pair:

        def fault(clock: t.Callable[[], float], marks: dict[str, float]) -> None:
            time.sleep(1.5)
            marks["fault"] = clock()
            pair.fail_over()
            marks["recovered"] = clock()

        _, out = drill(pair.url, namespace("pgfail"), fault, clients, seconds)
        return out


def node_loss(clients: int, seconds: float) -> dict[str, t.Any]:
    cluster = redis_cluster()
    try:
        _, out = drill(
            cluster_url(cluster), namespace("nodeloss"), _node_loss, clients, seconds, nodes=3
        )
        return out
    finally:
        cluster.stop()


def charts(results: dict[str, t.Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "scaling" in results:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
        for store, points in results["scaling"].items():
            nodes = [p["nodes"] for p in points]
            a.plot(nodes, [p["req_per_s"] for p in points], marker="o", label=store)
            b.plot(nodes, [p["p99_ms"] for p in points], marker="o", label=store)
        a.set(xlabel="app nodes", ylabel="requests/s", title="Throughput (2 cores)")
        b.set(xlabel="app nodes", ylabel="p99 ms", title="p99 latency")
        for ax in (a, b):
            ax.set_xticks([1, 2, 4])
            ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / "scaleout_scaling.png", dpi=100)
        plt.close(fig)
    drills = [k for k in DRILLS if k in results]
    if drills:
        fig, ax = plt.subplots(figsize=(10, 4))
        names = list(drills)
        ok = [results[k]["statuses"].get("200", results[k]["statuses"].get(200, 0)) for k in names]
        failed = [sum(v for s, v in results[k]["statuses"].items() if int(s) != 200) for k in names]
        ax.bar(names, failed, color="tab:red", label="failed requests")
        for i, k in enumerate(names):
            lost = results[k]["acknowledged_writes_lost"]
            ax.annotate(f"{ok[i]} ok\n{lost} acked lost", (i, failed[i]), ha="center", va="bottom")
        ax.set(ylabel="failed requests", title="Failover drills")
        ax.set_ylim(0, max(failed, default=0) * 1.3 + 1)  # room for the labels above the bars
        ax.legend()
        plt.setp(ax.get_xticklabels(), rotation=15)
        fig.tight_layout()
        fig.savefig(RESULTS / "scaleout_drills.png", dpi=100)
        plt.close(fig)


DRILLS: dict[str, t.Callable[[int, float], dict[str, t.Any]]] = {
    "redis-failover": lambda c, s: redis_failover(False, c, s),
    "redis-failover-durable": lambda c, s: redis_failover(True, c, s),
    "sentinel": sentinel,
    "postgres-failover": postgres_failover,
    "node-loss": node_loss,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--only", nargs="*", choices=["scaling", *DRILLS])
    parser.add_argument("--json", default=str(RESULTS / "scaleout.json"))
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    chosen = args.only or ["scaling", *DRILLS]
    results: dict[str, t.Any] = {"haproxy": Balancer.available()}
    for name in chosen:
        print(f"== {name}", flush=True)
        if name == "scaling":
            results[name] = scaling(args.clients, args.seconds)
        else:
            results[name] = DRILLS[name](args.clients, max(args.seconds, 8.0))
            print(json.dumps(results[name]), flush=True)
    Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    charts({k: v for k, v in results.items() if k != "haproxy"})
    bad = [
        k
        for k, v in results.items()
        if isinstance(v, dict)
        and "index" in v
        and (v["index"]["missing"] or v["index"]["leaked"] or v["sessions_lost"])
    ]
    if bad:
        print(f"index or sessions not intact after: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
