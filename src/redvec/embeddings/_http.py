"""What the hosted providers share: batching, timeouts, retries with backoff (tenacity),
errors."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from redvec.embeddings.base import EmbeddingError

__all__ = ["HttpEmbedder"]

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_WAIT = 60.0  # seconds: the longest pause between tries, Retry-After included


class _RetryableAnswer(Exception):
    """An answer worth another try (429, 5xx); carries it for when the tries run out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


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
        self.max_retries = max_retries
        self.backoff = backoff
        self._backoff = wait_exponential(multiplier=backoff, max=MAX_WAIT)
        self._dims = dims
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

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

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff from ``backoff`` seconds, or the server's Retry-After."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _RetryableAnswer):
            retry_after = error.response.headers.get("retry-after")
            if retry_after:
                try:
                    return min(float(retry_after), MAX_WAIT)
                except ValueError:
                    pass
        return float(self._backoff(state))

    def _send(self, url: str, payload: dict[str, Any]) -> httpx.Response:
        response = self._client.post(url, json=payload)
        if response.status_code in RETRY_STATUS:
            raise _RetryableAnswer(response)
        return response

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        url = f"{self.base_url}{path}"
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type((httpx.HTTPError, _RetryableAnswer)),
            reraise=True,
        )
        try:
            response = retrying(self._send, url, payload)
        except httpx.TimeoutException:
            raise EmbeddingError(f"{self.provider} at {url} timed out") from None
        except httpx.HTTPError as e:
            raise EmbeddingError(f"cannot reach {self.provider} at {url}: {e}") from None
        except _RetryableAnswer as last:
            response = last.response  # out of tries: say what the server answered
        if response.status_code in (401, 403):
            raise EmbeddingError(
                f"{self.provider} at {url} rejected the API key (HTTP {response.status_code})"
            )
        if response.status_code >= 400:
            raise EmbeddingError(
                f"{self.provider} at {url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError:
            raise EmbeddingError(f"{self.provider} at {url} answered with invalid JSON") from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
