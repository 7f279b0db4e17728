"""What the hosted embedding providers share: batching, and the hosted-API client
(:class:`redvec.hosted.HostedApi`: timeouts, retries with backoff, errors)."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from redvec.embeddings.base import EmbeddingError
from redvec.hosted import HostedApi

__all__ = ["HttpEmbedder"]


class HttpEmbedder:
    """Base of the HTTP providers: subclasses say how to build a request and read a reply."""

    provider = "http"

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        dims: int | None = None,
        batch_size: int = 128,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.batch_size = batch_size
        self._dims = dims
        self._api = HostedApi(
            self.provider, base_url, api_key, error=EmbeddingError, timeout=timeout,
            max_retries=max_retries, backoff=backoff, transport=transport,
        )  # fmt: skip

    @property
    def name(self) -> str:
        """``<provider>/<model>``: the cache key and the provider recorded with an index."""
        # Stable for the provider's life: it keys the embedding cache.
        return f"{self.provider}/{self.model}"

    @property
    def dims(self) -> int:
        """The vectors' dimension (asked of the provider with one probe text when not given)."""
        if self._dims is None:
            self._dims = int(self.embed(["dimension probe"]).shape[1])
        return self._dims

    # Subclasses fill these two in.
    def _request(self, texts: list[str]) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError

    def _vectors(self, body: Any, count: int) -> list[list[float]]:
        raise NotImplementedError

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One float32 row per text, in order, batched by the provider's limit; retried on 429
        and 5xx with backoff; :class:`EmbeddingError` with the server's answer otherwise."""
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            path, payload = self._request(batch)
            body = self._post(path, payload)
            vectors = self._vectors(body, len(batch))
            if len(vectors) != len(batch):
                raise EmbeddingError(
                    f"{self.provider} returned {len(vectors)} embeddings for {len(batch)} texts"
                )
            out.extend(vectors)
        if not out:
            return np.zeros((0, self._dims or 0), dtype=np.float32)
        array = np.asarray(out, dtype=np.float32)
        if array.ndim != 2:
            raise EmbeddingError(f"{self.provider} returned embeddings of uneven length")
        if self._dims is not None and array.shape[1] != self._dims:
            raise EmbeddingError(
                f"{self.provider} model {self.model} returned {array.shape[1]}-d vectors, "
                f"expected {self._dims}"
            )
        return array

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        return self._api.post(path, payload)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._api.close()
