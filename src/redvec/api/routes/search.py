"""Search an index: one query (KNN, BM25 or hybrid) or a batch of KNN queries.

The service arrives by dependency injection (``svc``, provided by
:func:`redvec.api.app.create_app`); every rule a handler applies lives in the library
or in :mod:`redvec.api.service`."""

from __future__ import annotations

import time
from typing import Any

from litestar import Controller, Request, post

from redvec.api.answers import ERRORS, elapsed_ms
from redvec.api.models import (
    BatchSearchRequest,
    BatchSearchResponse,
    SearchRequest,
    SearchResponse,
)
from redvec.api.searching import answer_search, embed_queries, response_of, spec_of, vector_of
from redvec.api.service import Service
from redvec.errors import ValidationError
from redvec.usecases import knn_query

__all__ = ["SearchController"]


class SearchController(Controller):
    """Search an index: one query (KNN, BM25 or hybrid) or a batch of KNN queries."""

    path = "/"

    @post(
        "/v1/indexes/{name:str}/search",
        status_code=200,
        responses=ERRORS,
        summary="KNN, text or hybrid search",
    )
    async def search(
        self, svc: Service, name: str, data: SearchRequest, request: Request[Any, Any, Any]
    ) -> SearchResponse:
        """One search: KNN (a vector, or text the index embeds), BM25 (text) or hybrid (both),
        with a structured filter; the answer names the mode that ran."""
        # Ordinary requests are answered by the fast lane (api/fastlane.py) with the
        # same function; this handler serves the rest and documents the route.
        return await answer_search(svc, name, data, request.headers)

    @post(
        "/v1/indexes/{name:str}/search/batch",
        status_code=200,
        responses=ERRORS,
        summary="Many KNN searches in one request and one Redis round trip",
    )
    async def search_batch(
        self, svc: Service, name: str, data: BatchSearchRequest, request: Request[Any, Any, Any]
    ) -> BatchSearchResponse:
        """Many dense searches in one request and one Redis round trip; a bad one is named by its
        position and refuses the batch."""
        start = time.perf_counter()
        svc.authorize(request, "read", name)
        idx, asearch = svc.index(name)
        vectors: list[Any] = []
        for n, req in enumerate(data.searches):
            if req.hybrid is not None or req.mode not in (None, "dense"):
                raise ValidationError(
                    f"searches[{n}]: a batch runs dense (KNN) searches only; send bm25 and "
                    f"hybrid searches one by one"
                )
            if req.rerank is not None:
                raise ValidationError(
                    f"searches[{n}]: a batch runs without a rerank stage; send reranked "
                    f"searches one by one"
                )
            try:
                vectors.append(vector_of(req))
            except ValidationError as e:
                raise ValidationError(f"searches[{n}]: {e}") from None
        to_embed = [n for n, v in enumerate(vectors) if v is None]
        if to_embed:
            embedded = await embed_queries(
                svc, idx, [data.searches[n].text or "" for n in to_embed]
            )
            for n, vec in zip(to_embed, embedded, strict=True):
                vectors[n] = vec
        queries = []
        for n, (req, vec) in enumerate(zip(data.searches, vectors, strict=True)):
            try:
                queries.append(knn_query(spec_of(req, idx, vec), vec))
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        with svc.metrics.timed_redis("search_batch"):
            results = await asearch.query_many(queries)
        return BatchSearchResponse(
            [
                response_of(r, start, explain=req.explain)
                for r, req in zip(results, data.searches, strict=True)
            ],
            elapsed_ms(start),
        )
