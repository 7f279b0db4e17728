"""`redvec bench filtered` on a small index: every method on every filter, recall against
exact filtered search, and the targets' lines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import redis

from ..conftest import REDVEC


def test_bench_filtered_measures_every_method_and_states_the_targets(
    cli_env: dict[str, str], r: redis.Redis, tmp_path: Path
) -> None:
    run = subprocess.run(
        [*REDVEC, "bench", "filtered", "--n", "2000", "--dims", "16", "--queries", "20",
         "--budget", "0.3", "--out", str(tmp_path)],
        env=cli_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    points = report["points"]
    kinds = {(p["kind"], p["selectivity"]) for p in points if p["kind"] != "none"}
    assert len(kinds) == 21  # 7 selectivities x TAG, NUMERIC, combined
    for kind, s in kinds:
        got = {p["method"]: p for p in points if (p["kind"], p["selectivity"]) == (kind, s)}
        assert {
            "planner",
            "planner_again",
            "unfiltered",
            "redisearch",
            "adhoc_bf",
            "batches",
        } <= set(got)
        assert got["planner_again"]["plan"] == got["planner"]["plan"]
        assert any(m.startswith("unfiltered@") for m in got)
        # Ad-hoc brute force is exact: its recall against exact filtered search must be 1.
        assert got["adhoc_bf"]["recall"] == 1.0, (kind, s)
        assert abs(got["planner"]["matches"] - s * 2000) <= 0.02 * 2000 + 1
    assert "planner vs best forced: min" in run.stdout
    assert "planner vs unfiltered at >= 1%: min" in run.stdout
    assert "estimate (a filter's LIMIT 0 0 count" in run.stdout
    assert "noise floor: the planner against itself" in run.stdout
    assert "planner vs unfiltered at equal recall (EF_RUNTIME" in run.stdout
    assert b"redvec_bench_filtered" not in r.execute_command("FT._LIST")  # dropped after
