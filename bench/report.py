"""Turn ``bench/results/*.json`` into a chart and the README's results table.

    .venv/bin/python bench/report.py

Writes ``bench/results/inprocess.png`` and ``bench/results/http.png`` and
replaces the part of README.md between ``<!-- bench:start -->`` and
``<!-- bench:end -->`` with tables of the latest results, the targets the
issues set, and the machine they came from.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

#: Targets from the issues, as ratios to the no-session app: (read, write).
TARGETS: dict[str, tuple[float, float]] = {
    "satchel-signed": (1.05, 1.40),
    "satchel-encrypted": (1.07, 1.45),
    "satchel-memory": (1.06, 1.15),
    "satchel-sqlite": (1.15, 1.40),
    "satchel-redis": (2.0, 3.3),
}


def load(name: str) -> dict[str, t.Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def chart_inprocess(data: dict[str, t.Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if r["setup"] != "none"]
    names = [r["setup"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["read_ratio"] for r in rows], 0.4, label="read one key")
    ax.barh([i - 0.2 for i in y], [r["write_ratio"] for r in rows], 0.4, label="change one key")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.axvline(1.0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("cost per request, as a ratio to the same app without a session (log scale)")
    ax.set_title("Per-request cost of each session set-up (in-process, median of rounds)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(RESULTS / "inprocess.png", dpi=110)
    plt.close(fig)


def chart_http(data: dict[str, t.Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conc = max(r["concurrency"] for r in data["rows"])
    rows = [r for r in data["rows"] if r["concurrency"] == conc]
    names = [r["setup"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.5))
    y = range(len(rows))
    ax.barh([i + 0.2 for i in y], [r["read"]["rps"] for r in rows], 0.4, label="read one key")
    ax.barh([i - 0.2 for i in y], [r["write"]["rps"] for r in rows], 0.4, label="change one key")
    ax.set_yticks(list(y), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"requests per second (gunicorn, 2 workers; wrk, {conc} connections)")
    ax.set_title("Throughput over HTTP")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / "http.png", dpi=110)
    plt.close(fig)


def table_inprocess(data: dict[str, t.Any]) -> list[str]:
    lines = [
        "| set-up | read µs | read ratio | target | write µs | write ratio | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        read_t, write_t = TARGETS.get(r["setup"], (None, None))

        def verdict(ratio: float, target: float | None) -> str:
            if target is None:
                return ""
            return f"≤ {target} {'met' if ratio <= target else 'not met'}"

        lines.append(
            f"| {r['setup']} | {r['read_us']:.1f} | {r['read_ratio']:.2f} |"
            f" {verdict(r['read_ratio'], read_t)} | {r['write_us']:.1f} |"
            f" {r['write_ratio']:.2f} | {verdict(r['write_ratio'], write_t)} |"
        )
    return lines


def table_http(data: dict[str, t.Any]) -> list[str]:
    lines = [
        "| set-up | connections | read req/s | read p99 ms | write req/s | write p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['setup']} | {r['concurrency']} | {r['read']['rps']:.0f} |"
            f" {r['read']['p99_ms']:.1f} | {r['write']['rps']:.0f} | {r['write']['p99_ms']:.1f} |"
        )
    return lines


def main() -> None:
    sections: list[str] = []
    inprocess = load("inprocess")
    if inprocess:
        chart_inprocess(inprocess)
        m = inprocess["machine"]
        sections += [
            f"In-process ({inprocess['rounds']} rounds of {inprocess['n']} requests, interleaved;"
            f" Python {m['python']}, {m['cpus']} cores, {m['platform']}):",
            "",
            "![per-request cost](bench/results/inprocess.png)",
            "",
            *table_inprocess(inprocess),
            "",
        ]
    http = load("http")
    if http:
        chart_http(http)
        sections += [
            f"Over HTTP (gunicorn with 2 workers, wrk for {http['seconds']} s per cell):",
            "",
            "![throughput](bench/results/http.png)",
            "",
            *table_http(http),
            "",
        ]
    races = load("races")
    if races:
        sections += [
            f"Races over HTTP ({races['rounds']} rounds each, `bench/races.py`):",
            "",
            "| set-up | both concurrent writes kept | logout undone by a slow request |",
            "|---|---|---|",
            *(
                f"| {r['setup']} | {r['kept']}/{r['rounds']} | {r['undone']}/{r['rounds']} |"
                for r in races["rows"]
            ),
            "",
        ]
    scale = load("scale")
    if scale:
        purge = scale["purge"]
        sections += [
            f"Scale ({scale['backend']}, `bench/scale.py`; random reads, median of"
            f" {scale['rounds']} rounds; target: a read at 1 million costs at most 1.3 times"
            " a read at 1 thousand):",
            "",
            "| stored sessions | read µs | ratio to the smallest |",
            "|---|---|---|",
            *(
                f"| {r['sessions']:,} | {r['load_us']:.2f} | {r['ratio']:.2f} |"
                for r in scale["reads"]
            ),
            "",
            f"Purge of {purge['sessions']:,} expired sessions: {purge['purged']:,} deleted in"
            f" {purge['batches']} batches of {purge['batch']}, {purge['seconds']:.1f} s, peak"
            f" Python allocations {purge['peak_python_kib']:.0f} KiB.",
            "",
        ]
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START in text and END in text:
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        text = head + START + "\n" + "\n".join(sections) + END + tail
        readme.write_text(text)
    print("\n".join(sections))


if __name__ == "__main__":
    main()
