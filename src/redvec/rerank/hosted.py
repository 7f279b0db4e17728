"""Hosted rerank APIs, with the embedding providers' timeouts, retries and errors
(:class:`redvec.hosted.HostedApi`).

- :class:`CohereReranker`: the Cohere-style ``POST /v2/rerank`` (``model``, ``query``,
  ``documents``, ``top_n`` -> ``results[].index, relevance_score``), which Cohere serves and
  several other providers and self-hosted servers copy.
- :class:`TeiReranker`: Hugging Face text-embeddings-inference's ``POST /rerank``
  (``query``, ``texts`` -> ``[{index, score}]``), the usual way to self-host an open
  reranker (bge-reranker, mxbai-rerank); sent in batches of ``batch_size`` texts, TEI's
  default limit per request.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from redvec.errors import ValidationError
from redvec.hosted import HostedApi
from redvec.rerank.base import Candidate, RerankError
from redvec.settings import Settings

__all__ = ["CohereReranker", "TeiReranker"]


def _needs_query(name: str, query: str | None) -> str:
    if not query:
        raise ValidationError(
            f"the {name} reranker reads the query's text: send 'text' with the search"
        )
    return query


def _ranked(
    pairs: list[tuple[int, float]], count: int, k: int, name: str
) -> list[tuple[int, float]]:
    """Checked (index, score) pairs, best first: every index a candidate's, none twice."""
    seen: set[int] = set()
    for index, _ in pairs:
        if not 0 <= index < count or index in seen:
            raise RerankError(f"{name} answered index {index} for {count} documents")
        seen.add(index)
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return pairs[:k]


class CohereReranker:
    """Cohere's rerank API (``POST {base_url}/v2/rerank``); the key from ``CO_API_KEY``
    and the base URL from ``CO_API_URL`` unless given."""

    reads_text = True
    reads_vectors = False
    provider = "cohere"

    def __init__(
        self,
        model: str = "rerank-v3.5",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        env = Settings.from_env()
        self.model = model
        self.api = HostedApi(
            self.provider,
            base_url or env.cohere_base_url or "https://api.cohere.com",
            api_key or env.cohere_api_key,
            error=RerankError, timeout=timeout, max_retries=max_retries, backoff=backoff,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """``cohere/<model>``."""
        return f"{self.provider}/{self.model}"

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """The server's relevance order of the candidates' texts for the query."""
        text = _needs_query(self.provider, query)
        if not candidates:
            return []
        body = self.api.post(
            "/v2/rerank",
            {
                "model": self.model,
                "query": text,
                "documents": [c.text for c in candidates],
                "top_n": min(k, len(candidates)),
            },
        )
        try:
            pairs = [(int(r["index"]), float(r["relevance_score"])) for r in body["results"]]
        except (KeyError, TypeError, ValueError):
            raise RerankError(
                f"{self.provider}: the answer has no results[].index and relevance_score"
            ) from None
        return _ranked(pairs, len(candidates), k, self.provider)


class TeiReranker:
    """text-embeddings-inference's rerank route (``POST {base_url}/rerank``), in batches
    of ``batch_size`` texts (TEI's ``--max-client-batch-size``, 32 by default)."""

    reads_text = True
    reads_vectors = False
    provider = "tei"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        batch_size: int = 32,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url
        self.batch_size = batch_size
        self.api = HostedApi(
            self.provider, base_url, api_key, error=RerankError, timeout=timeout,
            max_retries=max_retries, backoff=backoff,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """``tei/<base URL>``: the server is the model."""
        return f"{self.provider}/{self.api.base_url}"

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """The server's scores of the candidates' texts for the query, highest first."""
        text = _needs_query(self.provider, query)
        pairs: list[tuple[int, float]] = []
        for lo in range(0, len(candidates), self.batch_size):
            batch = candidates[lo : lo + self.batch_size]
            body = self.api.post(
                "/rerank",
                {"query": text, "texts": [c.text for c in batch], "truncate": True},
            )
            try:
                pairs += [(lo + int(r["index"]), float(r["score"])) for r in body]
            except (KeyError, TypeError, ValueError):
                raise RerankError(
                    f"{self.provider}: the answer is not a list of index and score"
                ) from None
        return _ranked(pairs, len(candidates), k, self.provider)
