"""`redvec tune`: the chosen EF_RUNTIME holds on held-out queries and becomes the default."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import redis

from redvec.bench.tune import tune
from redvec.errors import ValidationError
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, VectorField

from ..conftest import REDVEC


def clustered_index(
    r: redis.Redis, storage: str = "hash", algorithm: str = "HNSW"
) -> tuple[SearchIndex, np.ndarray]:
    rng = np.random.default_rng(5)
    centers = rng.normal(size=(30, 32)) * 3
    vectors = (centers[rng.integers(0, 30, 3000)] + rng.normal(size=(3000, 32))).astype(np.float32)
    params = {"m": 4, "ef_construction": 10} if algorithm == "HNSW" else {}
    schema = IndexSchema(
        "tuned",
        "t:",
        (VectorField("v", dims=32, distance="L2", algorithm=algorithm, **params),),
        storage=storage,
    )  # type: ignore[arg-type]
    idx = SearchIndex.create(r, schema)
    idx.upsert({"id": str(i), "v": v} for i, v in enumerate(vectors))
    idx.wait_indexed()
    return idx, vectors


@pytest.mark.parametrize("storage", ["hash", "json"])
def test_tuned_ef_meets_the_target_on_fresh_queries(r: redis.Redis, storage: str) -> None:
    idx, vectors = clustered_index(r, storage)
    result = tune(idx, 0.95, sample=100)
    assert result.tuning_recall >= 0.95 and result.holdout_recall >= 0.95
    recalls = [p.recall for p in result.curve]
    assert recalls == sorted(recalls)  # more EF, no less recall
    assert result.curve[0].recall < 0.95  # a weak graph: the default EF is not enough
    assert idx.default_ef_runtime == result.ef_runtime
    reopened = SearchIndex.open(r, "tuned")
    assert reopened.default_ef_runtime == result.ef_runtime

    # Queries that are not stored vectors at all: the default EF still meets the target.
    queries = (
        vectors[:200] + np.random.default_rng(9).normal(size=(200, 32)).astype(np.float32) * 0.3
    )
    truth, _ = exact_knn(vectors, queries, 10, "L2")
    got = reopened.search_many([KnnQuery(q, 10) for q in queries])
    recall = np.mean(
        [len(set(g.ids) & {str(i) for i in t}) / 10 for g, t in zip(got, truth, strict=True)]
    )
    assert recall >= 0.93


def test_unreachable_target_and_flat_index_are_clear_errors(r: redis.Redis) -> None:
    idx, _ = clustered_index(r)
    with pytest.raises(ValidationError) as info:
        tune(idx, 0.999, sample=100, efs=(10, 20))
    assert str(info.value).startswith("no EF_RUNTIME up to 20 reaches recall@10 0.999")
    assert idx.default_ef_runtime is None
    with pytest.raises(ValidationError, match=r"target recall must be in \(0, 1\]"):
        tune(idx, 1.5)
    r.flushall()
    flat, _ = clustered_index(r, algorithm="FLAT")
    with pytest.raises(ValidationError, match="is a FLAT field: it is exact"):
        tune(flat)


def test_cli_tune(r: redis.Redis, cli_env: dict[str, str]) -> None:
    clustered_index(r)
    result = subprocess.run(
        [*REDVEC, "tune", "-i", "tuned", "--target-recall", "0.9", "--sample", "100", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    parsed = json.loads(result.stdout)
    assert parsed["holdout_recall"] >= 0.9
    assert SearchIndex.open(r, "tuned").default_ef_runtime == parsed["ef_runtime"]
