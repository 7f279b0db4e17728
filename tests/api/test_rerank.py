"""A rerank stage in the HTTP request (``"rerank": {...}``), against a service that offers
mmr and a Cohere-protocol reranker on the local test server (REDVEC_RERANKERS)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from redvec.index import SearchIndex
from redvec.rerank import Rerank, make_reranker
from redvec.usecases import SearchSpec, search_by_text

from ..embedding_server import API_KEY, EmbeddingServer, relevance
from .conftest import RunningService, free_port, start_service
from .test_service import DIMS, corpus, schema


@pytest.fixture(scope="module")
def rerank_server() -> Iterator[EmbeddingServer]:
    with EmbeddingServer(dims=DIMS) as s:
        yield s


@pytest.fixture(scope="module")
def reranking(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory, rerank_server: EmbeddingServer
) -> Iterator[RunningService]:
    offered = {
        "co": {"kind": "cohere", "model": "rr", "base_url": rerank_server.url, "api_key": API_KEY},
        "down": {"kind": "tei", "base_url": f"http://127.0.0.1:{free_port()}", "max_retries": 0},
    }
    svc = start_service(
        redis_url, tmp_path_factory.mktemp("rerank"), env={"REDVEC_RERANKERS": json.dumps(offered)}
    )
    yield svc
    svc.stop()


@pytest.fixture()
def docs(r: redis.Redis) -> SearchIndex:
    idx = SearchIndex.create(r, schema())
    idx.upsert(corpus(120)[0])
    idx.wait_indexed()
    return idx


def test_mmr_over_http_answers_as_the_library_with_both_scores(
    reranking: RunningService, docs: SearchIndex
) -> None:
    vector = corpus(120)[1][5].tolist()
    stage = {"name": "mmr", "fetch_k": 40, "lambda": 0.3}
    with reranking.client() as c:
        got = c.post("/v1/indexes/docs/search", json={"vector": vector, "k": 6, "rerank": stage})
        plain = c.post("/v1/indexes/docs/search", json={"vector": vector, "k": 6})
    assert got.status_code == 200, got.text
    expected = search_by_text(
        docs,
        SearchSpec(vector=vector, k=6, rerank=Rerank(make_reranker("mmr", lambda_mult=0.3), 40)),
    ).result
    hits = got.json()["results"]
    assert [h["id"] for h in hits] == expected.ids
    assert [h["rerank_score"] for h in hits] == pytest.approx([h.rerank_score for h in expected])
    assert all(h["distance"] is not None and "embedding" not in h["fields"] for h in hits)
    assert [h["id"] for h in hits] != [h["id"] for h in plain.json()["results"]]
    assert all("rerank_score" not in h for h in plain.json()["results"])


def test_a_configured_hosted_reranker_orders_as_its_server_says(
    reranking: RunningService, docs: SearchIndex, rerank_server: EmbeddingServer
) -> None:
    body: dict[str, Any] = {"text": "document sport", "mode": "bm25", "k": 5}
    with reranking.client() as c:
        first = c.post("/v1/indexes/docs/search", json={**body, "k": 30}).json()["results"]
        got = c.post(
            "/v1/indexes/docs/search", json={**body, "rerank": {"name": "co", "fetch_k": 30}}
        )
    assert got.status_code == 200, got.text
    order = sorted(
        range(len(first)), key=lambda n: (-relevance(body["text"], first[n]["fields"]["title"]), n)
    )
    assert [h["id"] for h in got.json()["results"]] == [first[n]["id"] for n in order[:5]]
    assert rerank_server.requests[-1]["path"] == "/v2/rerank"


@pytest.mark.parametrize(
    ("stage", "needle"),
    [
        ({"name": "nope"}, "unknown reranker 'nope': this service offers mmr, co, down"),
        ({"name": "co", "lambda": 0.5}, "'lambda' applies to the mmr reranker, not 'co'"),
        ({"name": "mmr", "fetch_k": 3}, "fetch_k (3) must be at least k (5)"),
        ({"name": "mmr", "lambda": 2}, "lambda"),
        ({"name": "mmr", "typo": 1}, "typo"),
    ],
)
def test_bad_rerank_requests_are_422_and_named(
    reranking: RunningService, docs: SearchIndex, stage: dict[str, Any], needle: str
) -> None:
    with reranking.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search", json={"vector": [0.5] * DIMS, "k": 5, "rerank": stage}
        )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["error"]["message"]


def test_a_batch_with_a_rerank_stage_is_refused(
    reranking: RunningService, docs: SearchIndex
) -> None:
    with reranking.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search/batch",
            json={"searches": [{"vector": [0.5] * DIMS}, {"vector": [0.5] * DIMS,
                                                          "rerank": {"name": "mmr"}}]},
        )  # fmt: skip
    assert resp.status_code == 422
    assert "searches[1]: a batch runs without a rerank stage" in resp.json()["error"]["message"]


def test_a_hosted_reranker_that_cannot_be_reached_is_a_502_naming_it(
    reranking: RunningService, docs: SearchIndex
) -> None:
    with reranking.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search",
            json={"text": "document", "mode": "bm25", "rerank": {"name": "down"}},
        )
    assert resp.status_code == 502, resp.text
    error = resp.json()["error"]
    assert (
        error["code"] == "rerank_failed"
        and "cannot reach tei at http://127.0.0.1:" in error["message"]
    )
