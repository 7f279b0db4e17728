"""The ANN sweep on a small clustered set, end to end against the embedded Redis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from redvec.bench.ann import parse_build, run_ann
from redvec.bench.ann_report import write_report
from redvec.bench.datasets import load_dataset
from redvec.bench.estimate import estimate_memory
from redvec.errors import ConfigError, ValidationError

from ..conftest import REDVEC


def test_sweep_recall_rises_with_ef_and_reports_everything(r: redis.Redis, tmp_path: Path) -> None:
    pytest.importorskip("hnswlib")
    data = load_dataset(None, k=10, queries=50, synthetic=(3000, 32))
    report = run_ann(
        r, data, k=10, builds=[(8, 40)], efs=[10, 40, 160], concurrency=[1, 2], min_queries=100
    )
    ours = [p for p in report.points if p.engine == "redvec" and p.concurrency == 1]
    recalls = [p.recall for p in sorted(ours, key=lambda p: p.ef_runtime or 0)]
    assert recalls == sorted(recalls) and recalls[0] < recalls[-1] and recalls[-1] >= 0.99
    assert {p.engine for p in report.points} == {"redvec", "hnswlib", "numpy"}
    numpy_point = next(p for p in report.points if p.engine == "numpy")
    assert numpy_point.recall == 1.0
    for p in ours:
        assert p.qps > 0 and p.p50_ms <= p.p99_ms and p.vector_index_mb and p.vector_index_mb > 0
        assert p.qps_vs_hnswlib is not None and p.qps_vs_numpy is not None
    files = write_report(report, tmp_path)
    assert {f.name for f in files} >= {"results.json", "results.csv", "results.md"}
    rows = json.loads((tmp_path / "results.json").read_text())["points"]
    assert len(rows) == len(report.points)
    assert "| redvec | 8 | 40 | 160 | 1 |" in (tmp_path / "results.md").read_text()
    assert r.execute_command("FT._LIST") == []  # the sweep's index is gone


def test_build_grid_and_its_errors() -> None:
    assert parse_build(["M=8,16", "EF_CONSTRUCTION=100"]) == [(8, 100), (16, 100)]
    assert parse_build([]) == [(16, 200)]
    with pytest.raises(ConfigError, match="--build takes M=a,b or EF_CONSTRUCTION=a,b"):
        parse_build(["EF=10"])
    with pytest.raises(ConfigError, match="integers separated by commas"):
        parse_build(["M=a"])


def test_estimate_matches_measured_memory(r: redis.Redis) -> None:
    """Load 5000 x 64 into HNSW M 16 and compare used_memory with the prediction."""
    import numpy as np

    from redvec.bench.datasets import clustered
    from redvec.index import SearchIndex
    from redvec.schema import IndexSchema, VectorField

    before = int(r.info("memory")["used_memory"])
    idx = SearchIndex.create(r, IndexSchema("mem", "mem:", (VectorField("v", dims=64, m=16),)))
    pipe = r.pipeline(transaction=False)
    for i, row in enumerate(clustered(5000, 64)):
        pipe.hset(f"mem:{i}", "v", np.asarray(row, "<f4").tobytes())
    pipe.execute()
    idx.wait_indexed()
    used = (int(r.info("memory")["used_memory"]) - before) / 2**20
    predicted = estimate_memory(5000, 64, "FLOAT32", 16).total_mb
    assert abs(predicted - used) / used < 0.15, (predicted, used)
    with pytest.raises(ValidationError, match="--type must be one of"):
        estimate_memory(10, 8, "INT8")


def test_cli_bench_ann_and_estimate(
    cli_env: dict[str, str], r: redis.Redis, tmp_path: Path
) -> None:
    pytest.importorskip("hnswlib")
    run = subprocess.run(
        [*REDVEC, "bench", "ann", "--queries", "20", "--ef-runtime", "10,80", "--build", "M=8",
         "--build", "EF_CONSTRUCTION=40", "--min-queries", "60", "--out", str(tmp_path),
         "--synthetic", "2000,16"],
        env=cli_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "results.csv").is_file() and "| redvec | 8 | 40 | 80 |" in run.stdout
    est = subprocess.run(
        [*REDVEC, "estimate", "--n", "1000000", "--dim", "128", "--json"],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    body = json.loads(est.stdout)
    assert body["n"] == 1_000_000 and 1500 < body["total_mb"] < 2500
    bad = subprocess.run(
        [*REDVEC, "bench", "ann", "--dataset", str(tmp_path)],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 1 and "no dataset found" in bad.stderr


def test_ratios_to_hnswlib_compare_single_with_single_and_batched_with_batched(
    r: redis.Redis,
) -> None:
    pytest.importorskip("hnswlib")
    data = load_dataset(None, k=10, queries=60, synthetic=(2000, 16))
    report = run_ann(r, data, k=10, builds=[(8, 40)], efs=[40], batch=25, min_queries=60)
    by = {(p.engine, p.mode): p for p in report.points if p.engine != "numpy"}
    assert set(by) == {("redvec", "single"), ("redvec", "batched"), ("hnswlib", "single"),
                       ("hnswlib", "batched")}  # fmt: skip
    for mode in ("single", "batched"):
        ours, theirs = by[("redvec", mode)], by[("hnswlib", mode)]
        assert ours.recall >= 0.9 and theirs.recall >= 0.9
        # hnswlib has one point per mode here, so its QPS "at equal recall" is that point's.
        assert ours.qps_vs_hnswlib == pytest.approx(ours.qps / theirs.qps, rel=1e-9)
    # Which mode is faster is a benchmark's finding, not a test's: on 60 queries of 16
    # dimensions both modes take about a millisecond, and the order flipped in a full run.


def test_report_says_where_a_query_s_time_goes_and_repeats_short_query_sets(
    r: redis.Redis, tmp_path: Path
) -> None:
    """100 fast queries take milliseconds, so each point repeats the set up to
    ``min_queries``; the report splits a query's time into Redis's own and the round trip."""
    pytest.importorskip("hnswlib")
    data = load_dataset(None, k=10, queries=40, synthetic=(2000, 16))

    def searches() -> int:
        stats = r.info("commandstats")
        return int(stats.get("cmdstat_FT.SEARCH", {}).get("calls", 0))

    before = searches()
    report = run_ann(r, data, k=10, builds=[(8, 40)], efs=[40], batch=20, min_queries=100)
    sent = searches() - before
    assert report.passes == 3  # 40 queries, at least 100 a point
    # single: 20 warm-up + 3 x 40; batched: one warm-up pipeline of 20 + 3 x 40
    assert sent == 20 + 120 + 20 + 120
    assert report.ping_us is not None and report.ping_us > 0
    for p in (p for p in report.points if p.engine == "redvec"):
        assert p.redis_us is not None and 0 < p.redis_us < 1e6 / p.qps  # a part of the whole
        assert p.ceiling_vs_hnswlib is not None and p.qps_vs_hnswlib is not None
        if p.mode == "batched":  # Redis runs the pipeline's searches one after another
            assert p.ceiling_vs_hnswlib >= p.qps_vs_hnswlib
    write_report(report, tmp_path)
    md = (tmp_path / "results.md").read_text()
    assert "runs the queries 3 time(s)" in md and "Where a query's time goes" in md
    assert "| single | 40 |" in md and "| batched | 40 |" in md
    with pytest.raises(ConfigError, match="min_queries must be at least 1"):
        run_ann(r, data, k=10, builds=[(8, 40)], efs=[40], min_queries=0)
