"""An ANN sweep's report (:func:`redvec.bench.ann.run_ann`) as files: results.json,
results.csv, results.md with where a query's time goes, and a recall/QPS plot."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from redvec.bench.ann import AnnPoint, AnnReport

__all__ = ["write_report"]


def _time_table(report: AnnReport) -> list[str]:
    """Where one redvec query's time goes, beside hnswlib's: Markdown lines (none when
    Redis's time could not be read)."""
    ours = [p for p in report.points if p.engine == "redvec" and p.redis_us and p.concurrency == 1]
    if not ours:
        return []
    ping = report.ping_us or 0.0
    lines = [
        "",
        f"Where a query's time goes (microseconds; one PING's round trip: {ping:.0f}). "
        "`client` is what redvec and redis-py add to Redis's time and, in single mode, the "
        "round trip; `ceiling` is redvec/hnswlib with a client that cost nothing.",
        "",
        "| mode | EF_RUNTIME | recall | redvec us/query | Redis us/FT.SEARCH "
        "| round trip us | client us | vs hnswlib | ceiling vs hnswlib |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in ours:
        assert p.redis_us is not None
        each = 1e6 / p.qps
        trip = ping if p.mode == "single" else 0.0
        vs = "" if p.qps_vs_hnswlib is None else f"{p.qps_vs_hnswlib:.2f}"
        ceiling = "" if p.ceiling_vs_hnswlib is None else f"{p.ceiling_vs_hnswlib:.2f}"
        lines.append(
            f"| {p.mode} | {p.ef_runtime} | {p.recall:.4f} | {each:.0f} | "
            f"{p.redis_us:.0f} | {trip:.0f} | {max(0.0, each - p.redis_us - trip):.0f} | "
            f"{vs} | {ceiling} |"
        )
    return lines


def _pareto(points: list[AnnPoint]) -> list[AnnPoint]:
    """The points no other point beats on both recall and QPS."""
    best: list[AnnPoint] = []
    for p in sorted(points, key=lambda p: (-p.recall, -p.qps)):
        if not best or p.qps > best[-1].qps:
            best.append(p)
    return best


def write_report(report: AnnReport, out: Path) -> list[Path]:
    """results.json, results.csv, results.md and recall_qps.png in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rows = [asdict(p) for p in report.points]
    meta = {k: v for k, v in asdict(report).items() if k != "points"}
    (out / "results.json").write_text(json.dumps({**meta, "points": rows}, indent=2))
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [
        f"# {report.dataset}: {report.n} x {report.dims}, {report.metric}, {report.queries} "
        f"queries, recall@{report.k} (ground truth: {report.ground_truth}); each point "
        f"runs the queries {report.passes} time(s)",
        "",
        "| engine | M | EF_C | EF_RUNTIME | threads | recall | QPS | p50 ms | p95 ms | p99 ms "
        "| build s | vector MB | vs hnswlib | vs numpy | mode |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(x: Any, spec: str) -> str:
        return "" if x is None else format(x, spec)

    for p in report.points:
        lines.append(
            f"| {p.engine} | {fmt(p.m, 'd')} | {fmt(p.ef_construction, 'd')} | "
            f"{fmt(p.ef_runtime, 'd')} | {p.concurrency} | {p.recall:.4f} | {p.qps:.0f} | "
            f"{p.p50_ms:.3f} | {p.p95_ms:.3f} | {p.p99_ms:.3f} | {fmt(p.build_s, '.1f')} | "
            f"{fmt(p.vector_index_mb, '.1f')} | {fmt(p.qps_vs_hnswlib, '.2f')} | "
            f"{fmt(p.qps_vs_numpy, '.2f')} | {p.mode} |"
        )
    lines += _time_table(report)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    files = [out / "results.json", out / "results.csv", out / "results.md"]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return files
    fig, ax = plt.subplots(figsize=(8, 5.5))
    groups: dict[str, list[AnnPoint]] = {}
    for p in report.points:
        if p.engine == "numpy":
            continue
        label = f"{p.engine} M={p.m} efC={p.ef_construction} x{p.concurrency}"
        groups.setdefault(label, []).append(p)
    for label, pts in sorted(groups.items()):
        pts = sorted(pts, key=lambda p: p.recall)
        style = "-o" if label.startswith("redvec") else "--x"
        ax.plot([p.recall for p in pts], [p.qps for p in pts], style, label=label, alpha=0.8)
    front = _pareto([p for p in report.points if p.engine == "redvec"])
    ax.plot([p.recall for p in front], [p.qps for p in front], "k:", lw=2,
            label="redvec Pareto frontier")  # fmt: skip
    numpy_pts = [p for p in report.points if p.engine == "numpy"]
    for p in numpy_pts:
        ax.scatter([p.recall], [p.qps], marker="*", s=150, c="red", label="numpy exact")
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{report.k}")
    ax.set_ylabel("queries per second (log)")
    ax.set_title(f"{report.dataset} ({report.n} x {report.dims}, {report.metric})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(out / "recall_qps.png", dpi=110)
    plt.close(fig)
    return [*files, out / "recall_qps.png"]
