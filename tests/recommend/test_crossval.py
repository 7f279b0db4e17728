"""MyMediaLite's fold protocol: metrics by hand, on a tiny ratings set, and on MovieLens."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import redis

from redvec.errors import ConfigError
from redvec.recommend.crossval import (
    MYMEDIALITE,
    agreement,
    evaluate_folds,
    full_ranking,
    user_metrics,
)

from ..conftest import REDVEC, SHARED_DATA

ML = SHARED_DATA / "movielens-100k"
needs_data = pytest.mark.skipif(
    not (ML / "u1.base").is_file(),
    reason=f"MovieLens-100k is not at {ML} (research use only, not redistributed with redvec)",
)


def test_user_metrics_by_hand() -> None:
    # Six candidates; b (rank 2) and d (rank 4) are relevant.
    m = user_metrics(["a", "b", "c", "d", "e", "f"], {"b", "d"})
    assert m["prec@5"] == pytest.approx(2 / 5)
    assert m["prec@10"] == pytest.approx(2 / 10)
    assert m["recall@10"] == pytest.approx(1.0)
    assert m["MAP"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    ideal = 1 + 1 / math.log2(3)
    assert m["NDCG"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    # Negatives a, c, e, f have 0, 1, 2, 2 relevant items above them: 5 of 8 pairs.
    assert m["AUC"] == pytest.approx(5 / 8)


def test_a_ranking_that_misses_a_relevant_item_is_refused() -> None:
    with pytest.raises(ValueError, match="must hold every relevant item"):
        user_metrics(["a", "b"], {"z"})


def test_full_ranking_puts_the_recommended_first_then_the_popular_never_the_owned() -> None:
    ranking = full_ranking(["5", "1", "4"], ["1", "2", "3", "4", "5", "6"], {"1", "2"})
    assert ranking == ["5", "4", "3", "6"]


GENRES = ["unknown", "Action", *(f"g{n}" for n in range(17))]  # MovieLens has 19


def _write_movielens(path: Path) -> Path:
    """Six items, four users; fold u1 is small enough to score by hand, u2 differs."""
    path.mkdir()
    (path / "u.genre").write_text("".join(f"{g}|{n}\n" for n, g in enumerate(GENRES)))
    items = []
    for i in range(1, 7):
        flags = ["0"] * len(GENRES)
        flags[1 + i % 2] = "1"
        items.append(f"{i}|Item {i} (1999)|01-Jan-1999||http://x|{'|'.join(flags)}")
    (path / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    rows = lambda pairs: "".join(f"{u}\t{i}\t{r}\t{t}\n" for t, (u, i, r) in enumerate(pairs))  # noqa: E731
    # u1: popularity in training is 1:3, 2:3, 3:1, 4:1, 5:1, 6:0 (every rating counts,
    # one star included); users 3 and 4 have no test ratings, so are not scored.
    u1 = [(1, 1, 5), (1, 2, 1), (2, 1, 3), (2, 3, 2), (3, 1, 4), (3, 2, 5), (3, 4, 1)]
    (path / "u1.base").write_text(rows([*u1, (4, 2, 2), (4, 5, 4)]))
    (path / "u1.test").write_text(rows([(1, 3, 4), (2, 6, 1), (2, 2, 5)]))
    (path / "u2.base").write_text(
        rows([(1, 3, 4), (2, 6, 1), (2, 2, 5), (3, 1, 4), (3, 5, 2), (4, 2, 2), (4, 4, 4)])
    )
    (path / "u2.test").write_text(rows([(1, 1, 5), (3, 2, 5), (4, 5, 4)]))
    return path


def test_the_protocol_on_a_tiny_ratings_set_by_hand(r: redis.Redis, tmp_path: Path) -> None:
    ml = _write_movielens(tmp_path / "ml")
    report = evaluate_folds(r, ml, folds=("u1", "u2"), neighbours=2, factors=2)
    assert report["users"] == {"u1": 2, "u2": 3}
    popular = report["methods"]["most_popular"]
    # Fold u1, most popular (order 1, 2, 3, 4, 5, 6):
    # user 1 owns {1, 2}: ranking 3 4 5 6, relevant {3} first: P@5 .2, MAP 1, AUC 1;
    # user 2 owns {1, 3}: ranking 2 4 5 6, relevant {2, 6} at 1 and 4: P@5 .4,
    #   MAP (1/1 + 2/4) / 2, AUC 2 of 4 pairs.
    u1 = popular["folds"]["u1"]
    assert u1["prec@5"] == pytest.approx(0.3)
    assert u1["prec@10"] == pytest.approx(0.15)
    assert u1["recall@10"] == pytest.approx(1.0)
    assert u1["MAP"] == pytest.approx((1 + 0.75) / 2)
    ndcg2 = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert u1["NDCG"] == pytest.approx((1 + ndcg2) / 2)
    assert u1["AUC"] == pytest.approx(0.75)
    assert u1["coverage"] == pytest.approx(5 / 6)  # 2..6 shown, never 1
    # The report's headline is the mean over folds, with its spread.
    for metric in ("prec@10", "MAP", "AUC"):
        values = [popular["folds"][f][metric] for f in ("u1", "u2")]
        assert popular[metric] == pytest.approx(np.mean(values))
        assert popular["spread"][metric]["std"] == pytest.approx(np.std(values))
        assert popular["spread"][metric]["min"] == min(values)
    assert agreement(report) <= 0.01  # redvec's HNSW equals exact user-KNN here
    for name in ("average_vector", "best_score"):
        assert 0 <= report["by_example"][f"by_example_{name}"]["hit_rate@10"] <= 1


def test_unknown_fold_is_refused(r: redis.Redis, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown fold 'u9'"):
        evaluate_folds(r, _write_movielens(tmp_path / "ml"), folds=("u9",))


def test_cli_fold_report_as_json(cli_env: dict[str, str], tmp_path: Path) -> None:
    ml = _write_movielens(tmp_path / "ml")
    out = tmp_path / "report.json"
    done = subprocess.run(
        [*REDVEC, "eval", "recommend", "--movielens", str(ml), "--folds", "u1,u2",
         "--positives", "all", "--neighbours", "2", "--factors", "2", "--out", str(out)],
        env=cli_env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # u2 by hand: popularity 2, 1, 3, 4, 5, 6; each of its 3 users finds their one test
    # item in the top 5 (ranks 2, 1, 3), so P@5 0.2 and P@10 0.1; u1 gives 0.3 and 0.15.
    assert "| most_popular | 0.2500 (0.0500) | 0.1250 (0.0250) |" in done.stdout
    report = json.loads(out.read_text())
    methods = report["methods"]
    assert {"most_popular", "exact_user_knn", "redvec_user_knn", "exact_user_knn_binary"} <= set(
        methods
    )
    assert methods["most_popular"]["prec@10"] == pytest.approx((0.15 + 0.1) / 2)
    assert methods["most_popular"]["folds"]["u2"]["MAP"] == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    bad = subprocess.run(
        [*REDVEC, "eval", "recommend", "--movielens", str(ml), "--protocol", "netflix"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip() == "error: unknown protocol 'netflix': use mymedialite"


@needs_data
def test_fold_u1_reproduces_mymedialite_and_redvec_beats_its_user_knn(r: redis.Redis) -> None:
    report = evaluate_folds(r, ML, folds=("u1",))
    methods = report["methods"]
    # The protocol check: most popular lands on MyMediaLite's figure.
    assert abs(methods["most_popular"]["prec@10"] - MYMEDIALITE["most_popular"]["prec@10"]) < 0.01
    # MyMediaLite's own UserKNN (binary cosine, K 80) reproduced on every metric.
    for metric, published in MYMEDIALITE["user_knn"].items():
        assert abs(methods["exact_user_knn_binary"][metric] - published) < 0.01, metric
    # redvec's user-KNN, through HNSW in Redis, beats it and equals its exact twin.
    assert methods["redvec_user_knn"]["prec@10"] >= MYMEDIALITE["user_knn"]["prec@10"]
    assert agreement(report) <= 0.01
    ex = report["by_example"]
    assert ex["by_example_average_vector"]["hit_rate@10"] > ex["most_popular"]["hit_rate@10"]
