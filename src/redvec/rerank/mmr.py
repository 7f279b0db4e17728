"""Maximal marginal relevance as a reranker: no model, the candidates' stored vectors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from redvec.diversity import maximal_marginal_relevance_scored
from redvec.errors import ValidationError
from redvec.rerank.base import Candidate

__all__ = ["MmrReranker"]


class MmrReranker:
    """Picks, one at a time, the candidate most like the query and least like those picked
    (:func:`redvec.diversity.maximal_marginal_relevance`); ``lambda_mult`` 1 keeps the
    relevance order, 0 is the most diverse. Each hit's rerank score is its MMR objective
    when it was picked (so scores fall down the list)."""

    reads_text = False
    reads_vectors = True

    def __init__(self, lambda_mult: float = 0.5) -> None:
        if isinstance(lambda_mult, bool) or not 0.0 <= float(lambda_mult) <= 1.0:
            raise ValidationError(f"mmr's lambda must be from 0 to 1, got {lambda_mult!r}")
        self.lambda_mult = float(lambda_mult)

    @property
    def name(self) -> str:
        """``mmr(lambda=<lambda_mult>)``."""
        return f"mmr(lambda={self.lambda_mult:g})"

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """The MMR order of the candidates' vectors around ``query_vector``."""
        if query_vector is None:
            raise ValidationError(
                "mmr reranks by vectors, and a bm25 search has no query vector: use mode "
                "dense or hybrid, or a text reranker"
            )
        if not candidates:
            return []
        if any(c.vector is None for c in candidates):
            missing = next(c.id for c in candidates if c.vector is None)
            raise ValidationError(f"mmr needs every candidate's vector; '{missing}' has none")
        rows = np.vstack([np.asarray(c.vector, dtype=np.float64) for c in candidates])
        picked, scores = maximal_marginal_relevance_scored(query_vector, rows, k, self.lambda_mult)
        return list(zip(picked, scores, strict=True))
