"""The search fast lane answers exactly as the Litestar handler does.

The same requests go to the service (lane on, the default) and to one started with
``REDVEC_FAST_SEARCH=0`` (every search through the handler); status, JSON body
(without ``took_ms``) and the headers a client acts on must be equal, for answers
and for every kind of error. /metrics shows which requests the lane answered.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from .conftest import KEYS, RunningService, start_service
from .test_service import DIMS, loaded  # noqa: F401 - the fixture

Call = tuple[str, dict[str, Any]]  # (path, httpx request keyword arguments)
MAX_BODY = 262144  # as the session's `service` fixture


@pytest.fixture(scope="module")
def lane_off(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    svc = start_service(
        redis_url,
        tmp_path_factory.mktemp("lane-off"),
        extra_args=["--max-body", str(MAX_BODY)],
        env={"REDVEC_FAST_SEARCH": "0"},
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def secured_lane_off(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    svc = start_service(
        redis_url, tmp_path_factory.mktemp("secured-off"), keys=KEYS,
        env={"REDVEC_FAST_SEARCH": "0"},
    )  # fmt: skip
    yield svc
    svc.stop()


def _answer(svc: RunningService, path: str, kw: dict[str, Any], key: str | None) -> Any:
    with svc.client(key) as c:
        resp = c.post(path, **kw)
    try:
        body = resp.json()
    except json.JSONDecodeError:
        body = resp.text
    if isinstance(body, dict):
        body.pop("took_ms", None)
    kept = ("content-type", "retry-after", "www-authenticate")
    return resp.status_code, body, {h: resp.headers.get(h) for h in kept}


def _lane_counts(svc: RunningService) -> dict[str, float]:
    with svc.client("admin" if svc.keys else None) as c:
        text = c.get("/metrics").text
    found = re.findall(r'redvec_search_fast_lane_total\{outcome="(\w+)"\} ([\d.]+)', text)
    return {outcome: float(n) for outcome, n in found}


def _calls(vectors: np.ndarray) -> list[Call]:
    q = vectors[3]
    path = "/v1/indexes/docs/search"
    return [
        (path, {"json": {"vector": q.tolist(), "k": 7}}),
        (path, {"json": {"vector_b64": base64.b64encode(q.tobytes()).decode(), "k": 3}}),
        (path, {"json": {"vector": q.tolist(), "filter": {"field": "category", "tag": "sport"}}}),
        (path, {"json": {"vector": q.tolist(), "return_fields": ["title"], "offset": 2}}),
        (path, {"json": {"vector": q.tolist(), "k": 5, "ef_runtime": 10}}),  # FLAT: 422
        (path, {"json": {"vector": [0.5] * (DIMS - 1)}}),  # wrong dimension: 422
        (path, {"json": {"vector": [0.0] * DIMS}}),  # zero vector under COSINE: 422
        (path, {"json": {"vector": q.tolist(), "filter": {"field": "colour", "tag": "red"}}}),
        (path, {"json": {"text": "offside"}}),  # no provider recorded: 422
        (path, {"json": {"vector": q.tolist(), "hybrid": {}}}),  # hybrid needs text
        (path, {"json": {}}),
        ("/v1/indexes/nope/search", {"json": {"vector": q.tolist()}}),  # 404
        # handed over to the handler: not decodable, not valid, too big, not JSON
        (path, {"json": {"vector": q.tolist(), "k": 0}}),
        (path, {"json": {"vector": q.tolist(), "filters": {}}}),  # unknown field
        (path, {"content": b'{"vector": [NaN, 1.0]}'}),
        (path, {"content": b'{"vector": [1.0,'}),
        (path, {"content": b""}),
        (path, {"json": {"vector": [0.25] * 60000}}),  # over --max-body: 413
        (
            path,
            {
                "content": json.dumps({"vector": q.tolist()}),
                "headers": {"content-type": "text/plain"},
            },
        ),
    ]


def test_lane_and_handler_answer_alike(
    service: RunningService,
    lane_off: RunningService,
    loaded: Any,  # noqa: F811
) -> None:
    _, _, vectors = loaded
    before = _lane_counts(service)
    calls = _calls(vectors)
    statuses = set()
    for path, kw in calls:
        fast = _answer(service, path, kw, None)
        full = _answer(lane_off, path, kw, None)
        assert fast == full, (path, kw.get("json", kw.get("content")))
        statuses.add(fast[0])
    assert statuses == {200, 400, 404, 413, 415, 422}  # 415: the text/plain body
    after = _lane_counts(service)
    assert after["answered"] - before.get("answered", 0) == 12
    assert after["handed_over"] - before.get("handed_over", 0) == 7
    assert _lane_counts(lane_off) == {}  # the lane is really off there


def test_lane_and_handler_authorize_alike(
    secured: RunningService,
    secured_lane_off: RunningService,
    loaded: Any,  # noqa: F811
) -> None:
    _, _, vectors = loaded
    body = {"json": {"vector": vectors[0].tolist(), "k": 2}}
    for key in (None, "reader", "acme", "admin"):
        fast = _answer(secured, "/v1/indexes/docs/search", body, key)
        full = _answer(secured_lane_off, "/v1/indexes/docs/search", body, key)
        assert fast == full, key
    assert _answer(secured, "/v1/indexes/docs/search", body, None)[0] == 401
    assert _answer(secured, "/v1/indexes/docs/search", body, "acme")[0] == 404  # other tenant
    assert _answer(secured, "/v1/indexes/docs/search", body, "reader")[0] == 200
    with httpx.Client(base_url=secured.url) as c:  # a wrong key, sent both ways
        for headers in ({"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}):
            a = c.post("/v1/indexes/docs/search", headers=headers, **body)
            b = httpx.post(
                f"{secured_lane_off.url}/v1/indexes/docs/search", headers=headers, **body
            )
            assert (
                (a.status_code, a.json())
                == (b.status_code, b.json())
                == (
                    401,
                    {"error": {"code": "unauthorized", "message": "unknown API key"}},
                )
            )
