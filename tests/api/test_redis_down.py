"""Redis stopped under a running service: 503 with Retry-After, then recovery by itself."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from redvec.index import SearchIndex
from redvec.server import EmbeddedServer

from .conftest import free_port, start_service
from .test_service import DIMS, corpus, schema


def _poll(c: httpx.Client, method: str, path: str, want: int, **kw: object) -> httpx.Response:
    deadline = time.monotonic() + 60
    while True:
        resp = c.request(method, path, **kw)  # type: ignore[arg-type]
        if resp.status_code == want or time.monotonic() > deadline:
            return resp
        time.sleep(0.2)


def test_redis_down_is_503_and_the_service_recovers(tmp_path: Path) -> None:
    port = free_port()
    redis_server = EmbeddedServer(tmp_path / "redis", port=port, appendfsync="always").start()
    svc = None
    try:
        client = redis_server.client()
        idx = SearchIndex.create(client, schema())
        idx.upsert(corpus(50)[0])
        idx.wait_indexed()
        svc = start_service(redis_server.url, tmp_path)
        query = {"vector": [0.5] * DIMS, "k": 3}
        with svc.client() as c:
            before = c.post("/v1/indexes/docs/search", json=query)
            assert before.status_code == 200
            assert c.get("/readyz").status_code == 200

            redis_server.stop()
            down = c.post("/v1/indexes/docs/search", json=query)
            ready = c.get("/readyz")
            assert down.status_code == 503, down.text
            assert down.headers["retry-after"] == "1"
            assert down.json()["error"]["code"] == "redis_unavailable"
            assert "Traceback" not in down.text
            assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
            assert ready.json()["ready"] is False and ready.json()["redis"] == "down"
            assert c.get("/healthz").status_code == 200  # the process itself is fine
            metrics = c.get("/metrics").text
            assert "redvec_redis_up 0.0" in metrics

            redis_server = EmbeddedServer(tmp_path / "redis", port=port).start()
            assert _poll(c, "GET", "/readyz", 200).status_code == 200
            after = _poll(c, "POST", "/v1/indexes/docs/search", 200, json=query)
            assert after.status_code == 200
            assert [h["id"] for h in after.json()["results"]] == [
                h["id"] for h in before.json()["results"]
            ]
    finally:
        if svc is not None:
            svc.stop()
        redis_server.stop()
