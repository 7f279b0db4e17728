"""Rerankers behind one small protocol (:class:`Reranker`), and the rerank stage that runs
one after a search: ``mmr`` (no model), ``cross-encoder`` (a local sentence-transformers
model), and the hosted ``cohere`` (``POST /v2/rerank``) and ``tei`` (``POST /rerank``) APIs.
"""

from redvec.rerank.base import (
    RERANKERS,
    Candidate,
    NamedRerankers,
    Reranker,
    RerankError,
    make_reranker,
    reranker_from_options,
)
from redvec.rerank.stage import MAX_FETCH_K, Rerank, fetch_k_for, first_stage_fields, reranked

__all__ = [
    "MAX_FETCH_K",
    "RERANKERS",
    "Candidate",
    "NamedRerankers",
    "Rerank",
    "RerankError",
    "Reranker",
    "fetch_k_for",
    "first_stage_fields",
    "make_reranker",
    "reranked",
    "reranker_from_options",
]
