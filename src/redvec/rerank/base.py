"""The one small protocol every reranker follows, and the registry of rerankers.

A reranker reorders a first stage's candidates (KNN, BM25 or hybrid hits): it reads the
query's text or vector and each candidate's text or stored vector, and answers the
positions of the candidates it keeps, best first, each with its own score. Rerankers say
which inputs they read (``reads_text``, ``reads_vectors``) so that the search fetches
exactly those in the same round trip as the candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from redvec.errors import ConfigError, RerankError

__all__ = ["RERANKERS", "Candidate", "RerankError", "Reranker", "make_reranker"]

RERANKERS = ("mmr", "cross-encoder", "cohere", "tei")


@dataclass(frozen=True)
class Candidate:
    """One first-stage hit as a reranker sees it: its id, its text (the index's text
    fields joined; empty when none was read), its stored vector (None unless the reranker
    reads vectors) and its first-stage score (higher is better)."""

    id: str
    text: str
    vector: np.ndarray | None
    score: float


@runtime_checkable
class Reranker(Protocol):
    """Reorders candidates. ``name`` identifies the reranker and its settings (it is
    reported with the scores); ``reads_text`` / ``reads_vectors`` say what it needs."""

    @property
    def name(self) -> str:
        """The reranker and its settings, e.g. ``mmr(lambda=0.5)`` or ``cohere/rerank-v3.5``."""

    @property
    def reads_text(self) -> bool:
        """Whether it reads the query's text and the candidates' texts."""

    @property
    def reads_vectors(self) -> bool:
        """Whether it reads the query vector and the candidates' stored vectors."""

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """At most ``k`` (position in ``candidates``, score) pairs, best first; the scores
        are the reranker's own (higher is better). :class:`RerankError` when it fails."""


def make_reranker(kind: str, **options: Any) -> Reranker:
    """A reranker by name: ``mmr`` (``lambda_mult``), ``cross-encoder`` (``model``: a local
    directory or an installed package holding a sentence-transformers CrossEncoder),
    ``cohere`` (the Cohere-style ``POST /v2/rerank``: ``model``, ``base_url``, ``api_key``)
    or ``tei`` (Hugging Face text-embeddings-inference's ``POST /rerank``: ``base_url``).
    Unknown options are refused by the reranker's constructor, named."""
    kind = kind.lower()
    try:
        if kind == "mmr":
            from redvec.rerank.mmr import MmrReranker

            return MmrReranker(**options)
        if kind == "cross-encoder":
            from redvec.rerank.cross_encoder import CrossEncoderReranker

            return CrossEncoderReranker(**options)
        if kind == "cohere":
            from redvec.rerank.hosted import CohereReranker

            return CohereReranker(**options)
        if kind == "tei":
            from redvec.rerank.hosted import TeiReranker

            return TeiReranker(**options)
    except TypeError as e:
        raise ConfigError(f"reranker {kind}: {e}") from None
    raise ConfigError(f"unknown reranker {kind!r}: use {', '.join(RERANKERS)}")
