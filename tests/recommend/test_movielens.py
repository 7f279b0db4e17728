"""MovieLens-100k evaluation (the real data, read in place; skipped when absent)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from redvec.errors import ConfigError
from redvec.recommend.movielens import agreement, evaluate, ranking_metrics, read_movielens

from ..conftest import REDVEC, SHARED_DATA

ML = SHARED_DATA / "movielens-100k"
needs_data = pytest.mark.skipif(
    not (ML / "ua.base").is_file(),
    reason=f"MovieLens-100k is not at {ML} (research use only, not redistributed with redvec)",
)


def test_ranking_metrics_by_hand() -> None:
    lists = {"a": ["1", "2", "3"], "b": ["4", "5", "6"]}
    relevant = {"a": {"2", "9"}, "b": {"7"}}
    m = ranking_metrics(lists, relevant, 3, catalogue=10)
    assert m["precision"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["hit_rate"] == pytest.approx(0.5)
    assert m["ndcg"] == pytest.approx(((1 / 1.5849625007) / (1 + 1 / 1.5849625007)) / 2)
    assert m["coverage"] == pytest.approx(0.6)


def test_not_a_movielens_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a MovieLens-100k folder"):
        read_movielens(tmp_path)


@needs_data
def test_hnsw_user_knn_agrees_with_exact_and_beats_most_popular(r: redis.Redis) -> None:
    report = evaluate(r, ML, split="ua", neighbours=50, ef_runtime=200)
    assert report["users"] > 900
    rows = {(row["kind"], row["method"].split()[0]): row for row in report["rows"]}
    popular = rows[("-", "most")]
    for kind in ("genres", "factors"):
        assert agreement(report)[kind] <= 0.01  # within 1% on every metric
        assert rows[(kind, "redvec")]["precision"] > popular["precision"]
    assert rows[("factors", "redvec")]["ndcg"] > rows[("genres", "redvec")]["ndcg"]


@needs_data
def test_cli_load_recommend_similar(cli_env: dict[str, str], r: redis.Redis) -> None:
    run = lambda *a: subprocess.run(  # noqa: E731
        [*REDVEC, *a], env=cli_env, capture_output=True, text=True, timeout=300
    )
    loaded = run("recommend", "load-movielens", str(ML), "--name", "ml", "--kind", "factors")
    assert loaded.returncode == 0, loaded.stderr
    assert "943 users, 1682 items, factors vectors (32-d)" in loaded.stdout
    user = run("recommend", "user", "1", "--name", "ml", "-n", "5", "--json")
    assert user.returncode == 0, user.stderr
    body = json.loads(user.stdout)
    assert len(body["items"]) == 5 and body["fallback"] is None
    owned = {k.decode() for k in r.hkeys("ml:hist:1")}
    assert not {x["item"] for x in body["items"]} & owned
    similar = run("recommend", "similar", "50", "--name", "ml", "-n", "2")
    assert similar.returncode == 0
    assert "Return of the Jedi (1983)" in similar.stdout  # Star Wars' nearest
    # More like Star Wars and The Empire Strikes Back, less like Toy Story.
    liked = run(
        "recommend", "items", "--like", "50", "--like", "172", "--unlike", "1", "--name", "ml",
        "-n", "3", "--json",
    )  # fmt: skip
    assert liked.returncode == 0, liked.stderr
    assert "181" in [x["item"] for x in json.loads(liked.stdout)["items"]]  # Return of the Jedi
    missing = run("recommend", "user", "99999", "--name", "ml")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: unknown user '99999' in recommender 'ml'"
