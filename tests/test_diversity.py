"""Maximal marginal relevance over candidate vectors (redvec.diversity)."""

from __future__ import annotations

import numpy as np
import pytest

from redvec.diversity import maximal_marginal_relevance
from redvec.errors import ValidationError


def test_mmr_is_relevance_order_at_one_and_spreads_out_below() -> None:
    query = np.array([1.0, 0.0])
    # Two near-duplicates close to the query, one orthogonal-ish candidate.
    cands = np.array([[1.0, 0.05], [1.0, 0.06], [0.6, 0.8]])
    assert maximal_marginal_relevance(query, cands, 3, 1.0) == [0, 1, 2]
    assert maximal_marginal_relevance(query, cands, 2, 0.3) == [0, 2]  # not the duplicate
    # The opposite vector is what pure diversity picks second.
    opposite = np.vstack([cands, [-1.0, 0.0]])
    assert maximal_marginal_relevance(query, opposite, 2, 0.0)[1] == 3
    assert len(maximal_marginal_relevance(query, opposite, 10, 0.5)) == 4
    assert maximal_marginal_relevance(query, np.zeros((0, 2)), 3) == []


def test_mmr_refuses_what_cannot_be_ranked() -> None:
    with pytest.raises(ValidationError, match="lambda_mult"):
        maximal_marginal_relevance([1.0, 0.0], [[1.0, 0.0]], 1, 1.5)
    with pytest.raises(ValidationError, match="dimensions"):
        maximal_marginal_relevance([1.0, 0.0, 0.0], [[1.0, 0.0]], 1)
