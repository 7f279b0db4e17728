"""The filtered-search planner over HTTP: the plan in the answer when asked, forced
policies, and bad policies answered as 422s with the reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import redis

from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, VectorField

from .conftest import RunningService
from .test_service import loaded  # noqa: F401  (the fixture)


def test_explain_answers_with_the_plan_and_only_when_asked(
    service: RunningService,
    loaded: Any,  # noqa: F811
) -> None:
    _, docs, vectors = loaded
    body = {"vector": vectors[0].tolist(), "k": 5, "filter": {"field": "category", "tag": "sport"}}
    with service.client() as c:
        plain = c.post("/v1/indexes/docs/search", json=body)
        assert plain.status_code == 200, plain.text
        assert "plan" not in plain.json()
        explained = c.post("/v1/indexes/docs/search", json={**body, "explain": True})
        assert explained.status_code == 200, explained.text
        plan = explained.json()["plan"]
        assert plan["policy"] == "ADHOC_BF" and plan["chosen_by"] == "planner"
        assert plan["matches"] is None  # a FLAT field needs no count: brute force is exact
        assert "FLAT field" in plan["reason"]
        sport = {d["id"] for d in docs if d["category"] == "sport"}
        assert {h["id"] for h in explained.json()["results"]} <= sport
        assert explained.json()["results"] == plain.json()["results"]


def test_a_forced_policy_is_honoured_and_a_bad_one_is_a_422(
    service: RunningService,
    loaded: Any,  # noqa: F811
) -> None:
    _, _, vectors = loaded
    body = {"vector": vectors[1].tolist(), "k": 5, "filter": {"field": "category", "tag": "sport"}}
    with service.client() as c:
        forced = c.post(
            "/v1/indexes/docs/search",
            json={**body, "hybrid_policy": "batches", "batch_size": 20, "explain": True},
        )
        assert forced.status_code == 200, forced.text
        plan = forced.json()["plan"]
        assert (plan["policy"], plan["batch_size"], plan["chosen_by"]) == (
            "BATCHES", 20, "forced",
        )  # fmt: skip
        bad = c.post("/v1/indexes/docs/search", json={**body, "hybrid_policy": "fastest"})
        assert bad.status_code == 422 and "hybrid_policy" in bad.text
        lone = c.post("/v1/indexes/docs/search", json={**body, "batch_size": 20})
        assert lone.status_code == 422
        assert "batch_size applies to hybrid_policy batches only" in lone.text
        bm25 = c.post(
            "/v1/indexes/docs/search",
            json={"text": "document", "mode": "bm25", "hybrid_policy": "adhoc_bf"},
        )
        assert bm25.status_code == 422 and "dense or hybrid" in bm25.text


def test_a_batch_search_explains_each_search_that_asks(
    service: RunningService,
    loaded: Any,  # noqa: F811
) -> None:
    _, _, vectors = loaded
    searches = [
        {"vector": vectors[2].tolist(), "k": 3, "filter": {"field": "category", "tag": "science"},
         "explain": True},
        {"vector": vectors[3].tolist(), "k": 3},
    ]  # fmt: skip
    with service.client() as c:
        answer = c.post("/v1/indexes/docs/search/batch", json={"searches": searches})
        assert answer.status_code == 200, answer.text
        first, second = answer.json()["responses"]
        assert first["plan"]["chosen_by"] == "planner"
        assert "plan" not in second and second["mode"] == "dense"


def test_explain_shows_a_wide_range_sent_as_its_complements_negation(
    service: RunningService, r: redis.Redis
) -> None:
    dims = 256
    schema = IndexSchema(
        "ranked",
        "ranked:",
        (
            NumericField("rank", index_missing=True),
            VectorField("vec", dims=dims, distance="L2", m=8, ef_construction=40),
        ),
    )
    idx = SearchIndex.create(r, schema)
    vectors = np.random.default_rng(0).normal(size=(1500, dims)).astype(np.float32)
    idx.upsert({"id": str(i), "rank": i, "vec": v} for i, v in enumerate(vectors))
    idx.wait_indexed()
    body = {
        "vector": vectors[300].tolist(),
        "k": 5,
        "filter": {"field": "rank", "gte": 100},
        "explain": True,
    }
    with service.client() as c:
        resp = c.post("/v1/indexes/ranked/search", json=body)
    assert resp.status_code == 200, resp.text
    plan = resp.json()["plan"]
    assert plan["policy"] == "BATCHES" and plan["chosen_by"] == "planner"
    assert plan["filter"] == "(-(@rank:[-inf (100] | ismissing(@rank)))"
    assert "sent as the negation" in plan["reason"]
    assert resp.json()["results"][0]["id"] == "300"
    assert all(int(h["id"]) >= 100 for h in resp.json()["results"])
