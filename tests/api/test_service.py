"""The service's endpoints over HTTP, against the real embedded Redis."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
import redis

from redvec.api import stream_for
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.ingest.worker import StreamWorker
from redvec.providers import remember_provider
from redvec.schema import IndexSchema

from ..embedding_server import API_KEY, EmbeddingServer, vector_for
from .conftest import RunningService

DIMS = 8
CATEGORIES = ["finance", "sport", "science"]


def schema(name: str = "docs", prefix: str = "doc:", storage: str = "hash") -> IndexSchema:
    return IndexSchema.from_dict(
        {
            "name": name,
            "prefix": prefix,
            "storage": storage,
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "category", "type": "tag"},
                {"name": "price", "type": "numeric"},
                {
                    "name": "embedding",
                    "type": "vector",
                    "algorithm": "FLAT",
                    "datatype": "FLOAT32",
                    "dims": DIMS,
                    "distance": "COSINE",
                },
            ],
        }
    )


def corpus(n: int = 300, seed: int = 0) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, DIMS)).astype(np.float32)
    docs = [
        {
            "id": str(i),
            "title": f"document number {i} about {CATEGORIES[i % 3]}",
            "category": CATEGORIES[i % 3],
            "price": float(i % 50),
            "embedding": vectors[i].tolist(),
        }
        for i in range(n)
    ]
    return docs, vectors


@pytest.fixture()
def loaded(r: redis.Redis) -> tuple[SearchIndex, list[dict[str, Any]], np.ndarray]:
    idx = SearchIndex.create(r, schema())
    docs, vectors = corpus()
    idx.upsert(docs)
    idx.wait_indexed()
    return idx, docs, vectors


def test_knn_over_http_equals_exact_search(service: RunningService, loaded: Any) -> None:
    _, _, vectors = loaded
    query = np.random.default_rng(7).standard_normal(DIMS).astype(np.float32)
    rows, dists = exact_knn(vectors, query[None, :], 10, "COSINE")
    with service.client() as c:
        resp = c.post("/v1/indexes/docs/search", json={"vector": query.tolist(), "k": 10})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [h["id"] for h in body["results"]] == [str(i) for i in rows[0]]
    np.testing.assert_allclose([h["distance"] for h in body["results"]], dists[0], atol=1e-5)
    for h in body["results"]:
        assert h["score"] == pytest.approx(1 - h["distance"])
        assert h["fields"]["category"] in CATEGORIES
    assert body["took_ms"] > 0


def test_vector_b64_is_the_same_query(service: RunningService, loaded: Any) -> None:
    query = np.random.default_rng(8).standard_normal(DIMS).astype("<f4")
    with service.client() as c:
        plain = c.post("/v1/indexes/docs/search", json={"vector": query.tolist(), "k": 5}).json()
        b64 = base64.b64encode(query.tobytes()).decode()
        packed = c.post("/v1/indexes/docs/search", json={"vector_b64": b64, "k": 5}).json()
    assert [h["id"] for h in packed["results"]] == [h["id"] for h in plain["results"]]


def test_structured_filters_return_fields_and_paging(service: RunningService, loaded: Any) -> None:
    _, docs, vectors = loaded
    query = np.random.default_rng(9).standard_normal(DIMS).astype(np.float32)
    flt = {"and": [{"field": "category", "tag": ["finance"]}, {"field": "price", "gte": 10}]}
    mask = np.array([d["category"] == "finance" and d["price"] >= 10 for d in docs])
    rows, _ = exact_knn(vectors, query[None, :], 8, "COSINE", mask=mask)
    with service.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search",
            json={
                "vector": query.tolist(),
                "k": 4,
                "filter": flt,
                "return_fields": ["price"],
                "offset": 4,
            },
        )
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [h["id"] for h in results] == [str(i) for i in rows[0][4:8]]
    assert all(set(h["fields"]) == {"price"} and h["fields"]["price"] >= 10 for h in results)


def test_filter_values_cannot_change_the_query(service: RunningService, loaded: Any) -> None:
    hostile = {"field": "category", "tag": ["finance} | @category:{sport"]}
    with service.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search", json={"vector": [1.0] * DIMS, "k": 10, "filter": hostile}
        )
    assert resp.status_code == 200
    assert resp.json()["results"] == []


def test_batch_search_equals_single_searches(service: RunningService, loaded: Any) -> None:
    queries = np.random.default_rng(10).standard_normal((5, DIMS)).astype(np.float32)
    searches = [{"vector": q.tolist(), "k": 3} for q in queries]
    searches[2]["filter"] = {"field": "category", "tag": "sport"}
    with service.client() as c:
        batch = c.post("/v1/indexes/docs/search/batch", json={"searches": searches})
        singles = [c.post("/v1/indexes/docs/search", json=s).json() for s in searches]
    assert batch.status_code == 200, batch.text
    got = [[h["id"] for h in r["results"]] for r in batch.json()["responses"]]
    assert got == [[h["id"] for h in s["results"]] for s in singles]
    assert all(h["fields"]["category"] == "sport" for h in batch.json()["responses"][2]["results"])


def test_batch_names_the_bad_search(service: RunningService, loaded: Any) -> None:
    with service.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search/batch",
            json={"searches": [{"vector": [1.0] * DIMS}, {"vector": [1.0, 2.0]}]},
        )
    assert resp.status_code == 422
    assert resp.json()["error"]["message"].startswith("searches[1]: ")
    assert "expected 8" in resp.json()["error"]["message"]


# -- documents ---------------------------------------------------------------------------


def test_documents_put_get_delete(service: RunningService, r: redis.Redis) -> None:
    idx = SearchIndex.create(r, schema())
    docs, _ = corpus(3)
    with service.client() as c:
        put = c.put("/v1/indexes/docs/documents", json={"documents": docs})
        assert put.status_code == 200, put.text
        assert put.json()["upserted"] == 3 and put.json()["ids"] == ["0", "1", "2"]
        got = c.get("/v1/indexes/docs/documents/1")
        assert got.status_code == 200
        assert got.json() == {
            "id": "1",
            "fields": {"title": docs[1]["title"], "category": "sport", "price": 1.0},
        }
        with_vec = c.get("/v1/indexes/docs/documents/1", params={"with_vectors": "true"})
        np.testing.assert_allclose(with_vec.json()["fields"]["embedding"], docs[1]["embedding"])
        assert c.delete("/v1/indexes/docs/documents/1").json() == {"deleted": 1}
        missing = c.get("/v1/indexes/docs/documents/1")
        assert missing.status_code == 404
        assert missing.json()["error"] == {
            "code": "document_not_found",
            "message": "no document '1' in index 'docs'",
        }
        assert c.delete("/v1/indexes/docs/documents/1").status_code == 404
    assert idx.count() == 2


def test_one_bad_document_writes_nothing(service: RunningService, r: redis.Redis) -> None:
    idx = SearchIndex.create(r, schema())
    docs, _ = corpus(4)
    docs[2]["embedding"] = [1.0, 2.0]
    with service.client() as c:
        resp = c.put("/v1/indexes/docs/documents", json={"documents": docs})
    assert resp.status_code == 422
    error = resp.json()["error"]
    assert error["code"] == "invalid_document"
    assert "document '2'" in error["message"] and "expected 8" in error["message"]
    assert "1 of 4 documents refused; nothing was written" in error["message"]
    assert r.keys("doc:*") == []
    assert idx.count() == 0


def test_documents_without_vectors_are_embedded_with_the_index_provider(
    service: RunningService, r: redis.Redis, server: EmbeddingServer
) -> None:
    idx = SearchIndex.create(r, schema())
    remember_provider(
        idx, {"kind": "openai", "model": "m", "base_url": f"{server.url}/v1"}, ["title"]
    )
    docs = [
        {"id": "a", "title": "interest rates and bonds", "category": "finance", "price": 1},
        {"id": "b", "title": "the offside rule", "category": "sport", "price": 2},
    ]
    with service.client() as c:
        before = c.get("/metrics").text
        put = c.put("/v1/indexes/docs/documents", json={"documents": docs})
        assert put.status_code == 200, put.text
        assert put.json()["embedded"] == 2
        stored = c.get("/v1/indexes/docs/documents/b", params={"with_vectors": "true"}).json()
        expected = np.asarray(vector_for("the offside rule", DIMS), dtype=np.float32)
        np.testing.assert_allclose(stored["fields"]["embedding"], expected, rtol=1e-6)
        # a text query is embedded with the same provider, so the same text ranks first
        found = c.post("/v1/indexes/docs/search", json={"text": "the offside rule", "k": 2})
        assert found.status_code == 200, found.text
        assert found.json()["results"][0]["id"] == "b"
        assert found.json()["results"][0]["distance"] == pytest.approx(0, abs=1e-5)
        hybrid = c.post(
            "/v1/indexes/docs/search",
            json={"text": "offside", "k": 2, "hybrid": {"text_weight": 1, "vector_weight": 0.5}},
        )
        assert hybrid.status_code == 200, hybrid.text
        assert hybrid.json()["results"][0]["id"] == "b"
        # Embedding time is the provider's, not a Redis round trip.
        after = c.get("/metrics").text
    embedded = 'redvec_embedding_seconds_count{purpose="%s"}'
    for purpose, calls in (("document", 1), ("query", 2)):
        name = embedded % purpose
        assert _sample(after, name) - _sample(before, name) == calls, purpose
    assert 'operation="embed"' not in after


def _sample(exposition: str, sample: str) -> float:
    """The value of one sample line (name with its labels), 0 when absent."""
    for line in exposition.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_text_without_a_provider_is_a_clear_error(service: RunningService, loaded: Any) -> None:
    """Issue 15 item 13 made one rule for CLI and HTTP: text an index cannot embed is
    searched by BM25 and the answer says so; asking for dense search is the clear error."""
    with service.client() as c:
        auto = c.post("/v1/indexes/docs/search", json={"text": "anything"})
        resp = c.post("/v1/indexes/docs/search", json={"text": "anything", "mode": "dense"})
        put = c.put("/v1/indexes/docs/documents", json={"documents": [{"id": "x", "title": "t"}]})
    assert auto.status_code == 200 and auto.json()["mode"] == "bm25"
    assert resp.status_code == 422
    assert "has no embedding provider recorded" in resp.json()["error"]["message"]
    assert put.status_code == 422
    assert "has no vector 'embedding'" in put.json()["error"]["message"]


def test_enqueue_hands_documents_to_the_stream_worker(
    service: RunningService, r: redis.Redis, server: EmbeddingServer
) -> None:
    idx = SearchIndex.create(r, schema())
    # The worker embeds the schema's TEXT fields by default (issue 15: "title" here).
    docs = [{"id": f"q{i}", "title": f"queued text {i}", "category": "sport"} for i in range(5)]
    with service.client() as c:
        resp = c.post("/v1/indexes/docs/documents:enqueue", json={"documents": docs})
        bad = c.post("/v1/indexes/docs/documents:enqueue", json={"documents": [{"text": "x"}]})
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"enqueued": 5, "stream": stream_for("docs")}
    assert bad.status_code == 422 and "nothing was queued" in bad.json()["error"]["message"]
    assert r.xlen(stream_for("docs")) == 5
    from redvec.embeddings import make_provider

    worker = StreamWorker(
        idx,
        make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY),
        stream=stream_for("docs"),
        group="g",
    )
    while worker.process_once():
        pass
    assert sorted(d["id"] for d in idx.get([f"q{i}" for i in range(5)]) if d) == [
        f"q{i}" for i in range(5)
    ]


# -- indexes -----------------------------------------------------------------------------


def test_index_lifecycle(service: RunningService, r: redis.Redis) -> None:
    spec = schema("made", "made:").to_dict()
    with service.client() as c:
        created = c.post("/v1/indexes", json=spec)
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "made" and created.json()["num_docs"] == 0
        again = c.post("/v1/indexes", json=spec)
        assert again.status_code == 409 and again.json()["error"]["code"] == "index_exists"
        assert c.get("/v1/indexes").json() == {"indexes": ["made"]}
        info = c.get("/v1/indexes/made").json()
        assert info["schema"]["prefix"] == "made:"
        assert info["schema"]["fields"][-1]["dims"] == DIMS
        dropped = c.delete("/v1/indexes/made")
        assert dropped.status_code == 200
        assert c.get("/v1/indexes/made").status_code == 404
        assert c.get("/v1/indexes").json() == {"indexes": []}


def test_invalid_schema_names_the_field(service: RunningService, r: redis.Redis) -> None:
    spec = schema("bad", "bad:").to_dict()
    spec["fields"][-1]["dims"] = 0
    with service.client() as c:
        resp = c.post("/v1/indexes", json=spec)
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "invalid_schema"
    assert "embedding" in resp.json()["error"]["message"]


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"vector": [0.5] * 3}, 422, "dimension 3, expected 8"),
        ({"vector": [0.5] * DIMS, "k": 0}, 422, "k: Expected 'int' >= 1"),
        ({"vector": [0.5] * DIMS, "k": 1001}, 422, "k: Expected 'int' <= 1000"),
        ({"vector": [1e39] + [0.5] * 7}, 422, "NaN or infinity"),
        ({"vector": [0.0] * DIMS}, 422, "all zeros"),
        ({"vector": [0.5] * DIMS, "filtr": {}}, 422, "unknown field 'filtr'"),
        ({"vector": [0.5] * DIMS, "filter": {"field": "nope", "tag": "x"}}, 422, "nope"),
        ({"k": 3}, 422, "send 'text', 'vector' or 'vector_b64'"),
        ({"vector": [0.5] * DIMS, "vector_b64": "AAAA"}, 422, "not both"),
        ({"vector_b64": "@@@"}, 422, "not valid base64"),
        ({"vector": [0.5] * DIMS, "hybrid": {}}, 422, "send 'text'"),
        ({"vector": [0.5] * DIMS, "ef_runtime": 50}, 422, "ef_runtime applies to HNSW"),
    ],
)
def test_bad_searches_are_422_with_the_reason(
    service: RunningService, loaded: Any, body: dict[str, Any], status: int, needle: str
) -> None:
    with service.client() as c:
        resp = c.post("/v1/indexes/docs/search", json=body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"code", "message"}
    assert needle in error["message"]


def test_nan_in_the_body_is_422_not_a_parse_error(service: RunningService, loaded: Any) -> None:
    body = json.dumps({"vector": [float("nan")] + [0.5] * 7})  # Python writes NaN
    with service.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search", content=body, headers={"content-type": "application/json"}
        )
    assert resp.status_code == 422
    assert "NaN" in resp.json()["error"]["message"]


def test_malformed_json_unknown_index_route_and_method(
    service: RunningService, loaded: Any
) -> None:
    with service.client() as c:
        malformed = c.post(
            "/v1/indexes/docs/search",
            content=b'{"vector": [1,',
            headers={"content-type": "application/json"},
        )
        unknown = c.post("/v1/indexes/nope/search", json={"vector": [0.5] * DIMS})
        route = c.get("/v2/anything")
        method = c.patch("/v1/indexes/docs/search")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "bad_request"
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "index_not_found",
        "message": "no index named 'nope'",
    }
    assert route.status_code == 404 and route.json()["error"]["code"] == "not_found"
    assert method.status_code == 405 and "PATCH" in method.json()["error"]["message"]


def test_body_over_the_limit_is_413(service: RunningService, loaded: Any) -> None:
    big = {"documents": [{"id": str(i), "title": "x" * 1000} for i in range(300)]}  # ~300 KB
    with service.client() as c:
        resp = c.put("/v1/indexes/docs/documents", json=big)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


def test_no_stack_trace_reaches_the_client(service: RunningService, loaded: Any) -> None:
    """Whatever goes wrong, the body is the error shape and names no Python internals."""
    with service.client() as c:
        for body in ([1, 2], "text", None, {"vector": "abc"}, {"vector": [[1.0]] * DIMS}):
            resp = c.post("/v1/indexes/docs/search", json=body)
            assert 400 <= resp.status_code < 500, resp.text
            assert "Traceback" not in resp.text and "File " not in resp.text
            assert set(resp.json()["error"]) >= {"code", "message"}


# -- operations --------------------------------------------------------------------------


def test_health_readiness_openapi_docs(service: RunningService, loaded: Any) -> None:
    with service.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["ready"] is True and ready.json()["indexes"] == {"docs": 1.0}
        assert c.get("/readyz", params={"index": "nope"}).status_code == 404
        spec = c.get("/openapi.json").json()
        assert "/v1/indexes/{name}/search" in spec["paths"]
        body = spec["paths"]["/v1/indexes/{name}/search"]["post"]["requestBody"]
        assert body["required"] is True
        assert c.get("/docs/swagger").status_code == 200


def test_metrics_count_requests_by_route_and_report_indexes(
    service: RunningService, loaded: Any
) -> None:
    with service.client() as c:
        c.post("/v1/indexes/docs/search", json={"vector": [0.5] * DIMS})
        c.post("/v1/indexes/docs/search", json={"vector": [0.5] * 3})
        c.put("/v1/indexes/docs/documents", json={"documents": corpus(2, seed=5)[0]})
        text = c.get("/metrics").text
    route = 'route="/v1/indexes/{name}/search"'
    assert f'redvec_http_requests_total{{method="POST",{route},status="200"}}' in text
    assert f'redvec_http_requests_total{{method="POST",{route},status="422"}}' in text
    assert f'redvec_http_request_duration_seconds_count{{method="POST",{route}}}' in text
    assert 'redvec_redis_roundtrip_seconds_count{operation="search"}' in text
    assert 'redvec_index_documents{index="docs"} 300.0' in text
    assert 'redvec_index_percent_indexed{index="docs"} 1.0' in text
    assert 'redvec_ingest_documents_written_total{index="docs"}' in text
    assert "redvec_redis_up 1.0" in text


def _gauge(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} missing from /metrics")


def test_metrics_report_redis_memory_ops_and_indexing_failures(
    service: RunningService, r: redis.Redis, loaded: Any
) -> None:
    # A vector of the wrong length written behind redvec's back: stored, not indexed.
    r.hset("doc:bad", mapping={"title": "broken", "embedding": b"\x00" * 12})
    with service.client() as c:
        text = c.get("/metrics").text
    used = int(r.info("memory")["used_memory"])
    assert _gauge(text, "redvec_redis_used_memory_bytes") == pytest.approx(used, rel=0.2)
    assert 'redvec_index_indexing_failures{index="docs"} 1.0' in text
    assert _gauge(text, "redvec_redis_ops_per_second") >= 0
    assert _gauge(text, "redvec_redis_connected_clients") >= 1
    assert _gauge(text, "redvec_redis_loading") == 0
