"""Re-embedding: new vectors everywhere, no JSON rewritten, and an interrupted run resumes."""

from __future__ import annotations

import numpy as np
import redis

from redvec.embeddings import make_provider
from redvec.index import SearchIndex
from redvec.ingest import Ingestor, Record
from redvec.ingest.reembed import reembed
from redvec.schema import IndexSchema, TextField, VectorField

from ..embedding_server import API_KEY, EmbeddingServer, vector_for


def test_reembed_rewrites_vectors_only_and_resumes(r: redis.Redis, server: EmbeddingServer) -> None:
    idx = SearchIndex.create(
        r,
        IndexSchema(
            "re",
            "rev:",
            (TextField("text"), VectorField("embedding", dims=8, algorithm="FLAT")),
            storage="split",
            document_prefix="redoc:",
        ),
    )
    old = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8)
    new = make_provider("openai", model="m2", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8)
    docs = [
        Record("t", i, {"id": f"d{i}", "text": f"text {i}", "meta": {"k": i}}) for i in range(30)
    ]
    Ingestor(idx, old).run(docs)
    json_before = {i: r.execute_command("JSON.GET", f"redoc:d{i}") for i in range(30)}

    # An earlier run was interrupted after d0..d9: those are in the progress set.
    r.sadd("redvec:reembed:re:openai/m2", *[f"d{i}" for i in range(10)])
    summary = reembed(idx, new, ["text"], batch_size=7)
    assert (summary.seen, summary.updated, summary.already_done) == (30, 20, 10)
    assert not r.exists("redvec:reembed:re:openai/m2")

    for i in range(10, 30):
        got = idx.get([f"d{i}"], with_vectors=True)[0]
        assert got is not None
        np.testing.assert_allclose(got["embedding"], vector_for(f"text {i}", 8, "m2"), rtol=1e-6)
    assert {i: r.execute_command("JSON.GET", f"redoc:d{i}") for i in range(30)} == json_before
    hit = idx.search(vector_for("text 17", 8, "m2"), 1).hits[0]
    assert hit.id == "d17" and hit.fields["meta"] == {"k": 17}
