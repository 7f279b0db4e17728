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
    "RerankRequest",
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


class RerankRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A rerank stage after the search: ``name`` is ``mmr`` or a reranker the service
    offers (``REDVEC_RERANKERS``); ``fetch_k`` candidates are fetched (at least ``k``;
    default max(50, 4k)); ``lambda`` is mmr's relevance/diversity balance (1: relevance)."""

    name: Annotated[str, Meta(min_length=1, max_length=64)]
    fetch_k: Annotated[int, Meta(ge=1, le=MAX_K)] | None = None
    lambda_: Annotated[float, Meta(ge=0, le=1)] | None = msgspec.field(default=None, name="lambda")


Mode = Literal["dense", "bm25", "hybrid"]
Policy = Literal["auto", "adhoc_bf", "batches", "redisearch"]


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
    hybrid_policy: (
        Annotated[
            Policy,
            Meta(
                description="How a filtered KNN runs: auto (the planner chooses from the "
                "filter's match count), adhoc_bf, batches, or redisearch (its own choice)"
            ),
        ]
        | None
    ) = None
    batch_size: (
        Annotated[int, Meta(ge=1, le=MAX_K, description="BATCH_SIZE for hybrid_policy batches")]
        | None
    ) = None
    explain: Annotated[
        bool, Meta(description="Answer with the plan the KNN ran under ('plan')")
    ] = False
    rerank: RerankRequest | None = None


class BatchSearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Many dense (KNN) searches of one index, answered in one Redis round trip."""

    searches: Annotated[list[SearchRequest], Meta(min_length=1, max_length=256)]


class SearchHit(msgspec.Struct, omit_defaults=True):
    """One hit: the document id, score (higher is better), distance (RediSearch's, lower is
    closer; null for BM25), the fields asked for and, after a rerank stage, the
    reranker's ``rerank_score`` (``score`` and ``distance`` stay the first stage's)."""

    id: str
    score: float
    distance: float | None
    fields: dict[str, Any]
    rerank_score: float | None = None


class SearchPlanAnswer(msgspec.Struct):
    """How a KNN ran (:class:`redvec.planner.SearchPlan`): the ``HYBRID_POLICY`` and
    ``BATCH_SIZE`` sent (null: none), who chose them (planner, forced, redisearch,
    unfiltered), why, the match counts the planner used, and ``checked``: when this search
    was also run exactly to check the plan, the share of the exact answer the plan found
    (the answer returned is then the exact one), and ``filter``: the filter as sent when the
    planner rewrote it into an equivalent, faster form."""

    policy: str | None
    batch_size: int | None
    chosen_by: str
    reason: str
    matches: int | None
    documents: int | None
    checked: float | None = None
    filter: str | None = None


class SearchResponse(msgspec.Struct, omit_defaults=True):
    """A search's hits, how many matched (``total``), the time taken, the mode that ran
    (dense, bm25 or hybrid) and, when ``explain`` was asked, the KNN's ``plan``."""

    results: list[SearchHit]
    total: int
    took_ms: float
    mode: str
    plan: SearchPlanAnswer | None = None


class BatchSearchResponse(msgspec.Struct):
    """One answer per search, in the request's order."""

    responses: list[SearchResponse]
    took_ms: float


class DocumentsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Documents with an ``id`` and the index's fields. A document without its vector
    is embedded from the index's text fields when the index has a provider."""

    documents: Annotated[list[dict[str, Any]], Meta(min_length=1, max_length=10_000)]


class UpsertResponse(msgspec.Struct):
    """What an upsert wrote: how many, their ids, how many vectors were made from text."""

    upserted: int
    ids: list[str]
    embedded: int
    took_ms: float


class EnqueueResponse(msgspec.Struct):
    """How many documents were handed to the stream worker, and on which stream."""

    enqueued: int
    stream: str


class DeleteResponse(msgspec.Struct):
    """Whether the document existed and was deleted."""

    deleted: int


class Document(msgspec.Struct):
    """A stored document by id, with its fields (vectors only when asked for)."""

    id: str
    fields: dict[str, Any]


class IndexList(msgspec.Struct):
    """The indexes the caller's key may see."""

    indexes: list[str]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A tenant to create: its name (1-64 letters, digits, '.', '-' and '_')."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class TenantBody(msgspec.Struct):
    """A tenant: its name, when it was created, its indexes and how many documents they hold."""

    name: str
    created: float
    indexes: list[str]
    documents: int


class TenantList(msgspec.Struct):
    """The tenants the caller's key may see."""

    tenants: list[TenantBody]


class ReadyResponse(msgspec.Struct, omit_defaults=True):
    """Readiness; with API keys on and no key sent, ``ready`` alone."""

    ready: bool
    redis: str | None = None
    indexes: dict[str, float] | None = None
    reason: str | None = None


class RecommendedItem(msgspec.Struct):
    """A recommended item, its score and the neighbours or examples it came from."""

    item: str
    score: float
    because: list[str]


class Neighbour(msgspec.Struct):
    """A user close to the one recommended for, with the similarity that made them close."""

    user: str
    similarity: float


class RecommendResponse(msgspec.Struct):
    """Items for a user, the neighbours they came from, and whether the answer fell back to
    the most popular items (with the reason)."""

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
    """Items like the positive examples and unlike the negative ones, by the strategy named."""

    items: list[RecommendedItem]
    strategy: str
    took_ms: float


class SimilarItem(msgspec.Struct):
    """An item similar to the one asked about, with its similarity."""

    item: str
    similarity: float


class SimilarResponse(msgspec.Struct):
    """Items similar to an item, most similar first."""

    item: str
    items: list[SimilarItem]
    took_ms: float


class ErrorDetail(msgspec.Struct):
    """One problem of a refused request: where (the field or document) and what."""

    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(msgspec.Struct):
    """Every error answer: a machine-readable ``code`` and a sentence that names the fix."""

    error: ErrorDetail
