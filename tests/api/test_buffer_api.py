"""A full write buffer over HTTP: 503 with Retry-After, naming what was written."""

from __future__ import annotations

import redis

from ..test_buffer import buffered_schema, docs
from .conftest import RunningService


def test_a_full_write_buffer_is_a_503_with_retry_after(
    service: RunningService, r: redis.Redis
) -> None:
    body = buffered_schema("wfull", max_docs=5, wait=0.2).to_dict()
    sent = [{**d, "v": d["v"].tolist()} for d in docs(8)]
    with service.client() as c:  # this service runs no merger (REDVEC_MERGE=0)
        assert c.post("/v1/indexes", json=body).status_code == 201
        put = c.put("/v1/indexes/wfull/documents", json={"documents": sent})
    assert put.status_code == 503, put.text
    assert put.headers["retry-after"] == "1"
    error = put.json()["error"]
    assert (
        error["code"] == "buffer_full"
        and "5 documents of this call were written" in error["message"]
    )
    assert len(r.keys("wbuf:wfull:*")) == 5
