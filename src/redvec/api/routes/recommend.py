"""Recommendations: for a user, similar items, by example.

The service arrives by dependency injection (``svc``, provided by
:func:`redvec.api.app.create_app`); every rule a handler applies lives in the library
or in :mod:`redvec.api.service`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter

from redvec.api.answers import ERRORS, elapsed_ms
from redvec.api.models import (
    ByExampleRequest,
    ByExampleResponse,
    Neighbour,
    RecommendedItem,
    RecommendResponse,
    SimilarItem,
    SimilarResponse,
)
from redvec.api.service import Service
from redvec.filters import filter_from_json

__all__ = ["RecommendController", "recommend_answer", "similar_answer"]


def recommend_answer(
    svc: Service,
    headers: Mapping[str, str],
    user_id: str,
    recommender: str = "rec",
    n: int = 10,
    neighbours: int = 50,
    filter: str | None = None,
) -> RecommendResponse:
    """Items for a user, as the HTTP route and the MCP tool both answer: the caller's key
    checked for ``read`` on the recommender, then :meth:`redvec.recommend.Recommender.recommend`."""
    start = time.perf_counter()
    svc.authorize(headers, "read", recommender)
    rec = svc.recommender(recommender)
    with svc.metrics.timed_redis("recommend"):
        result = rec.recommend(user_id, n, neighbours=neighbours, filter=filter)
    return RecommendResponse(
        result.user,
        [RecommendedItem(r.item, r.score, r.because) for r in result.items],
        [Neighbour(u, s) for u, s in result.neighbours],
        result.fallback,
        elapsed_ms(start),
        result.reason,
    )


def similar_answer(
    svc: Service, headers: Mapping[str, str], item_id: str, recommender: str = "rec", n: int = 10
) -> SimilarResponse:
    """Items similar to an item, as the HTTP route and the MCP tool both answer."""
    start = time.perf_counter()
    svc.authorize(headers, "read", recommender)
    rec = svc.recommender(recommender)
    with svc.metrics.timed_redis("similar_items"):
        similar = rec.similar_items(item_id, n)
    return SimilarResponse(item_id, [SimilarItem(i, s) for i, s in similar], elapsed_ms(start))


class RecommendController(Controller):
    """Recommendations: for a user, similar items, by example."""

    path = "/"

    @get(
        "/v1/recommend/users/{user_id:str}",
        responses=ERRORS,
        sync_to_thread=True,
        summary="Items for a user, from what their nearest neighbours liked",
    )
    def recommend_user(
        self,
        svc: Service,
        user_id: str,
        request: Request[Any, Any, Any],
        recommender: str = "rec",
        n: Annotated[int, Parameter(ge=1, le=1000)] = 10,
        neighbours: Annotated[int, Parameter(ge=1, le=1000)] = 50,
        filter: Annotated[str | None, Parameter(max_length=2000)] = None,
    ) -> RecommendResponse:
        """Items for a user from what their nearest neighbours liked (the most popular items, with
        the reason, for a user without neighbours)."""
        return recommend_answer(svc, request.headers, user_id, recommender, n, neighbours, filter)

    @get(
        "/v1/recommend/items/{item_id:str}",
        responses=ERRORS,
        sync_to_thread=True,
        summary="Items similar to an item",
    )
    def similar_items(
        self,
        svc: Service,
        item_id: str,
        request: Request[Any, Any, Any],
        recommender: str = "rec",
        n: Annotated[int, Parameter(ge=1, le=1000)] = 10,
    ) -> SimilarResponse:
        """Items similar to an item, by KNN over the item embeddings."""
        return similar_answer(svc, request.headers, item_id, recommender, n)

    @post(
        "/v1/recommend/items",
        status_code=200,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Items like some examples and unlike others (recommend by example)",
    )
    def recommend_by_example(
        self, svc: Service, data: ByExampleRequest, request: Request[Any, Any, Any]
    ) -> ByExampleResponse:
        """Items like the positive examples and unlike the negative ones (ids or vectors)."""
        start = time.perf_counter()
        svc.authorize(request, "read", data.recommender)
        rec = svc.recommender(data.recommender)
        flt = (
            filter_from_json(data.filter, rec.items.schema)
            if isinstance(data.filter, dict)
            else data.filter
        )
        with svc.metrics.timed_redis("recommend_by_example"):
            items = rec.by_example(
                data.positive, data.negative, n=data.n, strategy=data.strategy, filter=flt,
                exclude=data.exclude,
            )  # fmt: skip
        return ByExampleResponse(
            [RecommendedItem(r.item, r.score, r.because) for r in items],
            data.strategy,
            elapsed_ms(start),
        )
