"""The OpenAI embeddings API, and every server that speaks it (vLLM, Ollama, TEI, LiteLLM).

``base_url`` defaults to ``OPENAI_BASE_URL`` or OpenAI's own; the key comes from
``OPENAI_API_KEY`` unless given. ``POST {base_url}/embeddings`` with
``{"model", "input": [...]}``; the answer's ``data[i].embedding``, ordered by ``index``.
"""

from __future__ import annotations

from typing import Any

from redvec.embeddings._http import HttpEmbedder
from redvec.embeddings.base import EmbeddingError
from redvec.settings import Settings

__all__ = ["OpenAIEmbedder"]


class OpenAIEmbedder(HttpEmbedder):
    """The OpenAI embeddings API (``POST /v1/embeddings``) and every server that speaks it
    (vLLM, Ollama, TEI, LiteLLM); the key from ``OPENAI_API_KEY`` unless given."""

    provider = "openai"

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dims: int | None = None,
        send_dimensions: bool = False,
        **kwargs: Any,
    ) -> None:
        env = Settings.from_env()
        super().__init__(
            model=model,
            base_url=base_url or env.openai_base_url or "https://api.openai.com/v1",
            api_key=api_key or env.openai_api_key,
            dims=dims,
            **kwargs,
        )
        self.send_dimensions = send_dimensions

    @property
    def name(self) -> str:
        """``openai/<model>`` (``@<dims>`` when fewer dimensions are asked for): the cache key and
        the provider recorded with an index."""
        # Asking for fewer dimensions changes the vectors, so it is part of the identity.
        base = f"{self.provider}/{self.model}"
        return f"{base}@{self._dims}" if self.send_dimensions and self._dims else base

    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        payload: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.send_dimensions and self._dims:
            payload["dimensions"] = self._dims
        return "/embeddings", payload

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        try:
            items = sorted(body["data"], key=lambda item: item["index"])
            return [item["embedding"] for item in items]
        except (KeyError, TypeError):
            raise EmbeddingError("openai: the answer has no data[].embedding") from None
