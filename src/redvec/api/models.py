"""Request and response bodies, as msgspec Structs: validated on decode, and the
source of the OpenAPI document. Unknown fields are refused, so a typo such as
``"filters"`` is an error rather than a search that silently ignores it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "BatchSearchRequest",
    "BatchSearchResponse",
    "ByExampleRequest",
    "ByExampleResponse",
    "DeleteResponse",
    "Document",
    "DocumentsRequest",
    "EnqueueResponse",
    "ErrorBody",
    "ErrorDetail",
    "HybridWeights",
    "IndexList",
    "Neighbour",
    "ReadyResponse",
    "RecommendResponse",
    "RecommendedItem",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "SimilarItem",
    "SimilarResponse",
    "UpsertResponse",
]

MAX_K = 1000
MAX_DIMS = 8192

K = Annotated[int, Meta(ge=1, le=MAX_K, description="How many results (1 to 1000)")]
EfRuntime = Annotated[int, Meta(ge=1, le=100_000, description="HNSW EF_RUNTIME for this query")]
Offset = Annotated[int, Meta(ge=0, le=10_000, description="Results to skip (paging)")]
Weight = Annotated[float, Meta(ge=0, le=1000)]


class HybridWeights(msgspec.Struct, forbid_unknown_fields=True):
    """Fuse BM25 over ``text`` with KNN by weighted reciprocal rank fusion."""

    text_weight: Weight = 1.0
    vector_weight: Weight = 1.0
    candidates: Annotated[int, Meta(ge=1, le=MAX_K)] | None = None


Mode = Literal["dense", "bm25", "hybrid"]


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``text`` (embedded with the index's provider, or searched by BM25), ``vector`` or
    ``vector_b64`` (little-endian float32, base64), or text and a vector (hybrid).

    ``mode`` is ``dense``, ``bm25`` or ``hybrid``; without it, text and a vector are
    hybrid, a vector or embeddable text is dense, and text the index cannot embed (no
    provider recorded) is BM25. The answer's ``mode`` says which ran (docs/query.md).
    ``hybrid`` sets the fusion weights and implies mode hybrid.
    """

    text: Annotated[str, Meta(min_length=1, max_length=20_000)] | None = None
    vector: Annotated[list[float], Meta(min_length=1, max_length=MAX_DIMS)] | None = None
    vector_b64: Annotated[str, Meta(max_length=MAX_DIMS * 6)] | None = None
    k: K = 10
    filter: dict[str, Any] | None = None
    return_fields: Annotated[list[str], Meta(max_length=256)] | None = None
    ef_runtime: EfRuntime | None = None
    hybrid: HybridWeights | None = None
    offset: Offset = 0
    mode: Mode | None = None


class BatchSearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    searches: Annotated[list[SearchRequest], Meta(min_length=1, max_length=256)]


class SearchHit(msgspec.Struct):
    id: str
    score: float
    distance: float | None
    fields: dict[str, Any]


class SearchResponse(msgspec.Struct):
    results: list[SearchHit]
    total: int
    took_ms: float
    mode: str = "dense"  # the mode that ran: dense, bm25 or hybrid


class BatchSearchResponse(msgspec.Struct):
    responses: list[SearchResponse]
    took_ms: float


class DocumentsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Documents with an ``id`` and the index's fields. A document without its vector
    is embedded from the index's text fields when the index has a provider."""

    documents: Annotated[list[dict[str, Any]], Meta(min_length=1, max_length=10_000)]


class UpsertResponse(msgspec.Struct):
    upserted: int
    ids: list[str]
    embedded: int
    took_ms: float


class EnqueueResponse(msgspec.Struct):
    enqueued: int
    stream: str


class DeleteResponse(msgspec.Struct):
    deleted: int


class Document(msgspec.Struct):
    id: str
    fields: dict[str, Any]


class IndexList(msgspec.Struct):
    indexes: list[str]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class TenantBody(msgspec.Struct):
    name: str
    created: float
    indexes: list[str]
    documents: int


class TenantList(msgspec.Struct):
    tenants: list[TenantBody]


class ReadyResponse(msgspec.Struct, omit_defaults=True):
    """Readiness; with API keys on and no key sent, ``ready`` alone."""

    ready: bool
    redis: str | None = None
    indexes: dict[str, float] | None = None
    reason: str | None = None


class RecommendedItem(msgspec.Struct):
    item: str
    score: float
    because: list[str]


class Neighbour(msgspec.Struct):
    user: str
    similarity: float


class RecommendResponse(msgspec.Struct):
    user: str | None
    items: list[RecommendedItem]
    neighbours: list[Neighbour]
    fallback: str | None
    took_ms: float
    reason: str | None = None  # why the fallback: no_interest_vector, no_neighbours, nothing_new


Example = (
    Annotated[str, Meta(min_length=1, max_length=512)]
    | int
    | Annotated[list[float], Meta(min_length=1, max_length=MAX_DIMS)]
)
Examples = Annotated[list[Example], Meta(max_length=1000)]


class ByExampleRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Items like the ``positive`` examples and unlike the ``negative`` ones: item ids, or
    vectors in the item index's space (docs/recommendations.md). ``filter`` runs over
    items (the JSON filter of searches, or a filter string such as ``"tags:Comedy"``);
    ``exclude`` lists items never to return (e.g. what the user already has)."""

    positive: Annotated[list[Example], Meta(min_length=1, max_length=1000)]
    negative: Examples = msgspec.field(default_factory=list)
    recommender: Annotated[str, Meta(min_length=1, max_length=256)] = "rec"
    n: K = 10
    strategy: Literal["average_vector", "best_score"] = "average_vector"
    filter: dict[str, Any] | Annotated[str, Meta(max_length=2000)] | None = None
    exclude: Annotated[list[str], Meta(max_length=10_000)] = msgspec.field(default_factory=list)


class ByExampleResponse(msgspec.Struct):
    items: list[RecommendedItem]
    strategy: str
    took_ms: float


class SimilarItem(msgspec.Struct):
    item: str
    similarity: float


class SimilarResponse(msgspec.Struct):
    item: str
    items: list[SimilarItem]
    took_ms: float


class ErrorDetail(msgspec.Struct):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail
