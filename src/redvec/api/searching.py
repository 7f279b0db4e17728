"""One search request of the HTTP service, as the route handler and the fast lane
(:mod:`redvec.api.fastlane`) both answer it: the request turned into the library's
:class:`redvec.usecases.SearchSpec`, run by :func:`redvec.usecases.search_by_text_async`,
and the answer shaped for the wire."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from typing import Any

import anyio.to_thread
import numpy as np

from redvec.api.answers import elapsed_ms
from redvec.api.models import (
    HybridWeights,
    SearchHit,
    SearchPlanAnswer,
    SearchRequest,
    SearchResponse,
)
from redvec.api.service import Service
from redvec.errors import ConfigError, ValidationError, VectorError
from redvec.filters import filter_from_json
from redvec.index import SearchIndex
from redvec.query import SearchMode, SearchResult
from redvec.rerank import NamedRerankers, Rerank
from redvec.usecases import SearchSpec, search_by_text_async

__all__ = [
    "answer_search",
    "embed_queries",
    "response_of",
    "search_once",
    "spec_of",
    "vector_of",
]


def response_of(
    result: SearchResult,
    start: float,
    mode: SearchMode = SearchMode.DENSE,
    *,
    explain: bool = False,
) -> SearchResponse:
    """A library result as the wire's :class:`SearchResponse` (with its plan if ``explain``)."""
    hits = [SearchHit(h.id, h.score, h.distance, h.fields, h.rerank_score) for h in result.hits]
    plan = None
    if explain and result.plan is not None:
        plan = SearchPlanAnswer(**result.plan.to_dict())
    return SearchResponse(hits, result.total, elapsed_ms(start), mode.value, plan)


def vector_of(req: SearchRequest) -> Any:
    """The request's query vector (a JSON list or base64 float32), or None for text only;
    :class:`ValidationError` for both forms at once or an unreadable one."""
    given = [n for n in ("vector", "vector_b64") if getattr(req, n) is not None]
    if len(given) > 1:
        raise ValidationError("send one of 'vector' or 'vector_b64', not both")
    if req.vector is not None:
        return req.vector
    if req.vector_b64 is not None:
        try:
            raw = base64.b64decode(req.vector_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("'vector_b64' is not valid base64") from None
        if not raw or len(raw) % 4:
            raise ValidationError(
                f"'vector_b64' must hold little-endian float32 values (a multiple of 4 bytes), "
                f"got {len(raw)} bytes"
            )
        return np.frombuffer(raw, dtype="<f4")
    if req.text is None:
        raise ValidationError("send 'text', 'vector' or 'vector_b64'")
    return None


async def embed_queries(svc: Service, idx: SearchIndex, texts: list[str]) -> Any:
    """Embed query texts with the index's recorded provider, in a worker thread, timed under
    ``redvec_embedding_seconds{purpose="query"}``; :class:`ConfigError` without a provider."""
    embedder = await anyio.to_thread.run_sync(svc.embedder, idx, "query")
    if embedder is None:
        raise ConfigError(
            f"index '{idx.name}' has no embedding provider recorded, so 'text' cannot be "
            f"embedded; send 'vector' or 'vector_b64' (or ingest with `redvec ingest`)"
        )
    with svc.metrics.timed_embedding("query"):
        return await anyio.to_thread.run_sync(embedder.embed, texts)


def spec_of(
    data: SearchRequest, idx: SearchIndex, vector: Any, rerankers: NamedRerankers | None = None
) -> SearchSpec:
    """The request as the library's :class:`redvec.usecases.SearchSpec`; a rerank stage
    names one of ``rerankers`` (mmr alone when None)."""
    asked = data.mode
    h = data.hybrid
    if h is not None:
        if asked not in (None, "hybrid"):
            raise ValidationError(f"'hybrid' weights apply to mode hybrid, not {asked}")
        asked = "hybrid"
    h = h or HybridWeights()
    return SearchSpec(
        data.text, vector, asked, data.k,
        filter_from_json(data.filter, idx.schema) if data.filter is not None else None,
        data.ef_runtime, data.return_fields, data.offset, h.text_weight, h.vector_weight,
        h.candidates, data.hybrid_policy, data.batch_size, _rerank_of(data, rerankers),
    )  # fmt: skip


def _rerank_of(data: SearchRequest, rerankers: NamedRerankers | None) -> Rerank | None:
    asked = data.rerank
    if asked is None:
        return None
    offered = rerankers or NamedRerankers()
    return Rerank(offered.get(asked.name, asked.lambda_), asked.fetch_k)


async def answer_search(
    svc: Service, name: str, data: SearchRequest, headers: Mapping[str, str]
) -> SearchResponse:
    """One search request, from the route handler or the fast lane alike.

    The opened index is cached for a few seconds; when a search is refused for a vector
    dimension, or finds nothing, the index may have been recreated behind the service's
    back, so it is opened afresh once and the search answered from what Redis holds now.
    """
    svc.authorize(headers, "read", name)
    try:
        response = await search_once(svc, name, data)
    except VectorError as e:
        if not ("dimension" in str(e) or "blob size" in str(e)) or not svc.stale(name):
            raise
        return await search_once(svc, name, data)
    if not response.results and svc.stale(name):
        return await search_once(svc, name, data)
    return response


async def search_once(svc: Service, name: str, data: SearchRequest) -> SearchResponse:
    """One search against the index as the service has it cached."""
    start = time.perf_counter()
    idx, asearch = svc.index(name)
    spec = spec_of(data, idx, vector_of(data), svc.rerankers)

    async def embed(texts: list[str]) -> Any:
        return await embed_queries(svc, idx, texts)

    done = await search_by_text_async(asearch.aio, spec, embed=embed, timed=svc.metrics.timed_redis)
    return response_of(done.result, start, done.mode, explain=data.explain)
