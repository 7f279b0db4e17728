"""Maximal marginal relevance: reorder KNN candidates so that the top ones are relevant to
the query and unlike each other (Carbonell and Goldstein, 1998).

It works on the candidates' vectors, which a search returns in the same round trip
(``return_fields=[..., vector_field]``), so no second read of Redis is needed. The LangChain
store's MMR search uses it, and so can a reranking stage.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from redvec.errors import ValidationError

__all__ = ["maximal_marginal_relevance", "maximal_marginal_relevance_scored"]


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def maximal_marginal_relevance(
    query: Any, candidates: Any, k: int, lambda_mult: float = 0.5
) -> list[int]:
    """The positions of ``k`` candidates, in the order MMR picks them.

    Each pick maximises ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max sim(c, s)``
    over the candidates ``c`` not picked yet, ``s`` ranging over those picked, with
    cosine similarity. ``lambda_mult`` 1 is plain relevance order, 0 maximal diversity.
    Raises :class:`ValidationError` for ``lambda_mult`` outside [0, 1] or mismatched
    dimensions.
    """
    return maximal_marginal_relevance_scored(query, candidates, k, lambda_mult)[0]


def maximal_marginal_relevance_scored(
    query: Any, candidates: Any, k: int, lambda_mult: float = 0.5
) -> tuple[list[int], list[float]]:
    """:func:`maximal_marginal_relevance`'s picks and, for each, the objective it was
    picked with (the first pick's is ``lambda_mult`` times its relevance, nothing being
    picked yet). A candidate's objective only falls as picks are made, so from the second
    pick on the scores never rise down the list."""
    if not 0.0 <= float(lambda_mult) <= 1.0:
        raise ValidationError(f"lambda_mult must be from 0 to 1, got {lambda_mult!r}")
    rows = np.asarray(candidates, dtype=np.float64)
    if rows.size == 0 or k <= 0:
        return [], []
    if rows.ndim != 2:
        raise ValidationError("candidates must be a matrix (one vector per row)")
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    if q.shape[0] != rows.shape[1]:
        raise ValidationError(
            f"the query has {q.shape[0]} dimensions, the candidates {rows.shape[1]}"
        )
    units = _unit(rows)
    relevance = units @ _unit(q)
    pairwise = units @ units.T
    first = int(np.argmax(relevance))
    picked: list[int] = [first]
    scores: list[float] = [float(lambda_mult * relevance[first])]
    closest = pairwise[first].copy()  # each candidate's highest similarity to a pick
    while len(picked) < min(k, len(rows)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * closest
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        scores.append(float(score[best]))
        closest = np.maximum(closest, pairwise[best])
    return picked, scores
