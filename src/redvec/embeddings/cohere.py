"""Cohere's v2 embed API: ``POST {base_url}/v2/embed``; the key from ``CO_API_KEY``.

Cohere embeds documents and queries differently (``input_type``); redvec embeds what it
stores as ``search_document``; pass ``input_type="search_query"`` for a query embedder.
"""

from __future__ import annotations

from typing import Any

from redvec.embeddings._http import HttpEmbedder
from redvec.embeddings.base import EmbeddingError
from redvec.settings import Settings

__all__ = ["CohereEmbedder"]


class CohereEmbedder(HttpEmbedder):
    """Cohere's v2 embed API (``POST /v2/embed``): ``input_type`` search_document for
    documents, search_query for queries; the key from ``CO_API_KEY`` unless given."""

    provider = "cohere"

    def __init__(
        self,
        model: str = "embed-english-v3.0",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        input_type: str = "search_document",
        dims: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("batch_size", 96)  # Cohere's limit per request
        env = Settings.from_env()
        super().__init__(
            model=model,
            base_url=base_url or env.cohere_base_url or "https://api.cohere.com",
            api_key=api_key or env.cohere_api_key,
            dims=dims,
            **kwargs,
        )
        self.input_type = input_type

    @property
    def name(self) -> str:
        """``cohere/<model>:<input_type>``: the cache key and the provider recorded with an
        index (documents and queries are embedded differently, so the input type is part
        of the identity)."""
        return f"{self.provider}/{self.model}:{self.input_type}"

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        return "/v2/embed", {
            "model": self.model,
            "texts": texts,
            "input_type": self.input_type,
            "embedding_types": ["float"],
        }

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        try:
            return list(body["embeddings"]["float"])
        except (KeyError, TypeError):
            raise EmbeddingError("cohere: the answer has no embeddings.float") from None
