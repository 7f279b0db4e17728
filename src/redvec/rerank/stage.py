"""The rerank stage after a search: how many candidates the first stage fetches, which
fields it must return for the reranker, and the candidates reordered into the answer.

The first stage (KNN, BM25 or hybrid) fetches ``fetch_k`` candidates with the texts and/or
vectors the reranker reads in the same round trip; the reranker orders them; ``k`` are
answered, each hit keeping its first-stage ``score`` and ``distance`` beside its
``rerank_score``. Fields fetched only for the reranker are not returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from redvec.documents import text_to_embed
from redvec.errors import ValidationError
from redvec.query import SearchResult
from redvec.rerank.base import Candidate, Reranker
from redvec.schema import IndexSchema

__all__ = ["MAX_FETCH_K", "Rerank", "fetch_k_for", "first_stage_fields", "reranked"]

MAX_FETCH_K = 1000


@dataclass(frozen=True)
class Rerank:
    """A rerank step: the reranker, and how many candidates the first stage fetches
    (None: :func:`fetch_k_for`'s default)."""

    reranker: Reranker
    fetch_k: int | None = None


def fetch_k_for(k: int, fetch_k: int | None) -> int:
    """The candidates to fetch for ``k`` answers: ``fetch_k`` as given (at least ``k``, at
    most 1000), or by default ``max(50, 4 k)`` capped at 1000; :class:`ValidationError`
    for a ``fetch_k`` below ``k`` (a reranker can only reorder what it is given)."""
    if fetch_k is None:
        return max(k, min(MAX_FETCH_K, max(50, 4 * k)))
    if isinstance(fetch_k, bool) or not isinstance(fetch_k, int):
        raise ValidationError(f"fetch_k must be an integer, got {fetch_k!r}")
    if fetch_k < k:
        raise ValidationError(
            f"fetch_k ({fetch_k}) must be at least k ({k}): the reranker reorders the "
            f"fetch_k candidates and answers k of them"
        )
    if fetch_k > MAX_FETCH_K:
        raise ValidationError(f"fetch_k must be at most {MAX_FETCH_K}, got {fetch_k}")
    return fetch_k


def first_stage_fields(
    schema: IndexSchema,
    return_fields: Sequence[str] | None,
    reranker: Reranker,
    text_fields: Sequence[str],
) -> list[str] | None:
    """What the first stage returns: the fields asked for (None: all, no vectors), plus the
    text fields a text reranker reads and the vector field a vector reranker reads."""
    vf = schema.vector_field().name
    if return_fields is None:
        return ["*", vf] if reranker.reads_vectors else None
    wanted = list(return_fields)
    if reranker.reads_text:
        wanted += [f for f in text_fields if f not in wanted]
    if reranker.reads_vectors and vf not in wanted:
        wanted.append(vf)
    return wanted


def reranked(
    result: SearchResult,
    reranker: Reranker,
    *,
    k: int,
    query: str | None,
    query_vector: Any,
    schema: IndexSchema,
    return_fields: Sequence[str] | None,
    text_fields: Sequence[str],
) -> SearchResult:
    """``result``'s hits reordered by ``reranker``, ``k`` kept, each with its
    ``rerank_score``; fields the caller did not ask for are dropped from the hits."""
    vf = schema.vector_field().name
    vector = None if query_vector is None else np.asarray(query_vector, dtype=np.float64)
    candidates = [
        Candidate(
            h.id,
            text_to_embed(h.fields.get(f) for f in text_fields) if reranker.reads_text else "",
            _vector(h.fields.get(vf)) if reranker.reads_vectors else None,
            h.score,
        )
        for h in result.hits
    ]
    order = reranker.rerank(query, vector, candidates, k)
    asked = None if return_fields is None else set(return_fields)
    hits = []
    for position, score in order:
        hit = result.hits[position]
        hit.rerank_score = score
        if asked is None:
            hit.fields.pop(vf, None)
        else:
            for name in [n for n in hit.fields if n not in asked]:
                del hit.fields[name]
        hits.append(hit)
    return SearchResult(result.total, hits, result.plan)


def _vector(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value, dtype=np.float64).reshape(-1)
