"""The service answers right or refuses clearly: modes, content types, ids with '/',
readiness and metrics behind keys, a schema changed behind its back, a taken port.
Each test runs `redvec serve` in its own process over a real socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from redvec.api.auth import ApiKey
from redvec.index import SearchIndex
from redvec.schema import IndexSchema

from .conftest import KEYS, RunningService, start_service
from .test_service import corpus, schema


def _bm25_index_over_http(c: Any) -> None:
    body = schema("plain", "plain:").to_dict()
    assert c.post("/v1/indexes", json=body).status_code == 201
    docs, _ = corpus(30)
    assert c.put("/v1/indexes/plain/documents", json={"documents": docs}).status_code == 200


def test_an_index_created_over_http_can_be_text_searched_with_mode_bm25(
    service: RunningService, r: redis.Redis
) -> None:
    with service.client() as c:
        _bm25_index_over_http(c)
        SearchIndex.open(r, "plain").wait_indexed()
        found = c.post("/v1/indexes/plain/search", json={"text": "number 7", "mode": "bm25"})
        assert found.status_code == 200, found.text
        assert found.json()["mode"] == "bm25"
        assert found.json()["results"][0]["id"] == "7"
        # The one rule (docs/query.md): text the index cannot embed is searched by BM25,
        # and the answer says so.
        auto = c.post("/v1/indexes/plain/search", json={"text": "number 7"}).json()
        assert auto["mode"] == "bm25" and auto["results"][0]["id"] == "7"
        refused = c.post("/v1/indexes/plain/search", json={"text": "seven", "mode": "dense"})
        assert refused.status_code == 422
        assert "no embedding provider" in refused.json()["error"]["message"]
        vec = [1.0] * 8
        both = c.post("/v1/indexes/plain/search", json={"text": "x", "vector": vec, "mode": "bm25"})
        assert both.status_code == 422 and "bm25 searches text only" in both.text
        hybrid = c.post("/v1/indexes/plain/search", json={"text": "number 7", "vector": vec})
        assert hybrid.status_code == 200 and hybrid.json()["mode"] == "hybrid"


def test_text_search_through_an_alias_uses_the_index_behind_it(
    service: RunningService, r: redis.Redis
) -> None:
    with service.client() as c:
        _bm25_index_over_http(c)
        r.execute_command("FT.ALIASADD", "current", "plain")
        SearchIndex.open(r, "plain").wait_indexed()
        resp = c.post("/v1/indexes/current/search", json={"text": "number 7", "mode": "bm25"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["results"][0]["id"] == "7"


def test_hybrid_search_over_http_on_an_index_with_its_own_stop_words_keeps_redis_up(
    service: RunningService, r: redis.Redis
) -> None:
    pid = r.info("server")["process_id"]
    body = {**schema("sw", "sw:").to_dict(), "stopwords": ["hip", "hop", "foo"]}
    with service.client() as c:
        assert c.post("/v1/indexes", json=body).status_code == 201
        docs, _ = corpus(10)
        docs[0]["title"] = "hip hop art"
        c.put("/v1/indexes/sw/documents", json={"documents": docs})
        SearchIndex.open(r, "sw").wait_indexed()
        resp = c.post("/v1/indexes/sw/search", json={"text": "hip hop art", "vector": [1.0] * 8})
        assert resp.status_code == 200, resp.text
        assert resp.json()["results"][0]["id"] == "0"
    assert r.info("server")["process_id"] == pid


def test_wrong_content_types_are_415_and_an_empty_body_is_400(
    service: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, schema())
    body = '{"vector": [1, 2, 3, 4, 5, 6, 7, 8]}'
    with service.client() as c:
        for route in ("/v1/indexes/docs/search", "/v1/indexes/docs/search/batch"):
            for ctype in ("text/plain", "application/x-www-form-urlencoded"):
                resp = c.post(route, content=body, headers={"content-type": ctype})
                assert resp.status_code == 415, (route, ctype, resp.text)
                assert "must be JSON" in resp.json()["error"]["message"]
        form = c.put("/v1/indexes/docs/documents", data={"documents": "x"})
        assert form.status_code == 415
        empty = c.post("/v1/indexes/docs/search", headers={"content-type": "application/json"})
        assert empty.status_code == 400
        assert "needs a JSON body" in empty.json()["error"]["message"]


def test_a_document_whose_id_has_a_slash_can_be_read_and_deleted(
    service: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, schema())
    docs, _ = corpus(1)
    docs[0]["id"] = "guides/intro.md"
    with service.client() as c:
        assert c.put("/v1/indexes/docs/documents", json={"documents": docs}).status_code == 200
        for path in ("guides/intro.md", "guides%2Fintro.md"):
            got = c.get(f"/v1/indexes/docs/documents/{path}")
            assert got.status_code == 200, (path, got.text)
            assert got.json()["id"] == "guides/intro.md"
        assert c.delete("/v1/indexes/docs/documents/guides%2Fintro.md").json() == {"deleted": 1}
        assert c.get("/v1/indexes/docs/documents/guides/intro.md").status_code == 404


def test_error_messages_do_not_show_redis_py_internals(
    service: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, schema())
    r.execute_command("FT.DROPINDEX", "docs")  # the index changes behind the service
    r.execute_command(
        "FT.CREATE", "docs", "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA", "embedding",
        "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 4, "DISTANCE_METRIC", "L2",
    )  # fmt: skip
    with service.client() as c:
        resp = c.post(
            "/v1/indexes/docs/search/batch",
            json={"searches": [{"vector": [1.0] * 4}, {"vector": [1.0, 2.0, 3.0, 4.0]}]},
        )
        assert resp.status_code == 200, resp.text
        wrong = c.post("/v1/indexes/docs/search", json={"vector": [1.0] * 8})
        assert wrong.status_code == 422
        message = wrong.json()["error"]["message"]
        assert "pipeline" not in message and "Command #" not in message
        assert "dimension 8, expected 4" in message


def test_a_schema_recreated_with_other_dims_is_seen_at_once(
    redis_url: str, tmp_path: Path, r: redis.Redis
) -> None:
    """With a 5 s index cache, the old schema refused right-sized writes and answered
    wrong-sized queries with an empty 200."""
    svc = start_service(redis_url, tmp_path, env={"REDVEC_INDEX_CACHE_SECONDS": "5"})
    try:
        with svc.client() as c:
            SearchIndex.create(r, schema())
            docs, _ = corpus(5)
            assert c.put("/v1/indexes/docs/documents", json={"documents": docs}).status_code == 200
            assert c.post("/v1/indexes/docs/search", json={"vector": [1.0] * 8}).status_code == 200
            time.sleep(0.6)
            r.execute_command("FT.DROPINDEX", "docs", "DD")
            wide = schema().to_dict()
            wide["fields"][-1]["dims"] = 16
            SearchIndex.create(r, IndexSchema.from_dict(wide), overwrite=True)
            doc = {**docs[0], "embedding": [0.5] * 16}
            put = c.put("/v1/indexes/docs/documents", json={"documents": [doc]})
            assert put.status_code == 200, put.text
            SearchIndex.open(r, "docs").wait_indexed()
            time.sleep(0.6)
            found = c.post("/v1/indexes/docs/search", json={"vector": [0.5] * 16})
            assert found.status_code == 200, found.text
            assert [h["id"] for h in found.json()["results"]] == ["0"]
            old = c.post("/v1/indexes/docs/search", json={"vector": [1.0] * 8})
            assert old.status_code == 422 and "expected 16" in old.text
    finally:
        svc.stop()


def test_a_second_service_on_a_port_in_use_refuses_to_start(redis_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "redvec.cli", "serve", "--port", str(port), "--url", redis_url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture()
def metered(redis_url: str, tmp_path: Path) -> Any:
    keys = {**KEYS, "prom": ApiKey("prom", "", frozenset({"metrics"}))}
    svc = start_service(redis_url, tmp_path, keys=keys)
    yield svc
    svc.stop()


def test_readyz_and_metrics_name_no_index_without_a_key(
    metered: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, IndexSchema.from_dict({**schema().to_dict(), "name": "secret_idx"}))
    with metered.client() as anon:
        ready = anon.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"ready": True}
        assert "secret_idx" not in ready.text
        assert anon.get("/readyz", params={"index": "secret_idx"}).status_code == 401
        assert anon.get("/readyz", params={"index": "nope"}).status_code == 401  # no oracle
        assert anon.get("/metrics").status_code == 401
    with metered.client("acme") as tenant:
        assert tenant.get("/metrics").status_code == 403
    with metered.client("prom") as prom:
        detail = prom.get("/readyz").json()
        assert "secret_idx" in detail["indexes"]
        assert prom.get("/metrics").status_code == 200


def test_metrics_content_type_has_one_charset_and_the_body_parses(
    service: RunningService,
) -> None:
    with service.client() as c:
        resp = c.get("/metrics")
    raw = resp.headers.get_list("content-type")
    assert len(raw) == 1
    media, *params = [p.strip() for p in raw[0].split(";")]
    names = [p.split("=", 1)[0].lower() for p in params]
    assert media == "text/plain"
    assert sorted(names) == ["charset", "version"], raw  # each parameter once
    assert dict(p.split("=", 1) for p in params) == {"version": "0.0.4", "charset": "utf-8"}
    families = {f.name for f in text_string_to_metric_families(resp.text)}
    assert "redvec_http_requests" in families or any("redvec" in f for f in families)


def test_a_cosine_vector_too_long_for_float32_is_a_422(
    service: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, schema())
    big = [3e38, 3e38] + [0.0] * 6
    with service.client() as c:
        resp = c.post("/v1/indexes/docs/search", json={"vector": big})
    assert resp.status_code == 422 and "overflows float32" in resp.text


def test_a_deep_filter_and_an_overflowing_number_are_422(
    service: RunningService, r: redis.Redis
) -> None:
    SearchIndex.create(r, schema())
    deep: dict[str, Any] = {"field": "category", "tag": "a"}
    for _ in range(500):
        deep = {"not": deep}
    vec = np.ones(8).tolist()
    with service.client() as c:
        nested = c.post("/v1/indexes/docs/search", json={"vector": vec, "filter": deep})
        assert nested.status_code == 422 and "deeper than 32" in nested.text
        huge = '{{"vector": {}, "filter": {{"field": "price", "gte": 1{}}}}}'.format(vec, "0" * 400)
        resp = c.post(
            "/v1/indexes/docs/search", content=huge, headers={"content-type": "application/json"}
        )
        assert resp.status_code == 422, resp.text
        weights = {
            "text": "number",
            "vector": vec,
            "hybrid": {"text_weight": 0, "vector_weight": 0},
        }
        zero = c.post("/v1/indexes/docs/search", json=weights)
        assert zero.status_code == 422 and "both 0" in zero.text


def test_an_upsert_batch_with_the_same_id_twice_is_refused(
    service: RunningService, r: redis.Redis
) -> None:
    """It answered "upserted: 2" and kept one of them."""
    SearchIndex.create(r, schema())
    docs, _ = corpus(2)
    docs[1]["id"] = docs[0]["id"]
    with service.client() as c:
        resp = c.put("/v1/indexes/docs/documents", json={"documents": docs})
    assert resp.status_code == 422
    assert "documents[1] repeats id '0' of documents[0]" in resp.json()["error"]["message"]
    assert r.exists("doc:0") == 0  # nothing was written


def test_numpy_free_json_numbers_round_trip_and_a_bad_geo_is_422(
    service: RunningService, r: redis.Redis
) -> None:
    body = schema("geo", "geo:").to_dict()
    body["fields"].append({"name": "loc", "type": "geo"})
    with service.client() as c:
        assert c.post("/v1/indexes", json=body).status_code == 201
        docs, _ = corpus(1)
        resp = c.put(
            "/v1/indexes/geo/documents", json={"documents": [{**docs[0], "loc": "200,100"}]}
        )
    assert resp.status_code == 422 and "not a valid position" in resp.text
