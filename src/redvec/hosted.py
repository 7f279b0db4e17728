"""Calling a hosted model API (embeddings, reranking): a JSON POST with a timeout, retries
with exponential backoff (tenacity) on 429 and 5xx, the server's ``Retry-After`` obeyed,
and every failure one error naming the provider and what it answered.

The embedding providers and the hosted rerankers share it, so that both wait, retry and
fail the same way.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from redvec.errors import RedvecError

__all__ = ["MAX_WAIT", "RETRY_STATUS", "HostedApi"]

RETRY_STATUS = {429, 500, 502, 503, 504}
MAX_WAIT = 60.0  # seconds: the longest pause between tries, Retry-After included


class _RetryableAnswer(Exception):
    """An answer worth another try (429, 5xx); carries it for when the tries run out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class HostedApi:
    """One hosted API: ``post(path, payload)`` returns the decoded JSON answer, or raises
    ``error`` (a :class:`RedvecError` subclass) naming ``provider``, the URL and the answer:
    unreachable, timed out (after ``timeout`` s a try), out of retries (the last answer),
    a rejected key (401/403), any other 4xx, or JSON that does not decode."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        api_key: str | None,
        *,
        error: type[RedvecError],
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.error = error
        self.max_retries = max_retries
        self.backoff = backoff
        self._backoff = wait_exponential(multiplier=backoff, max=MAX_WAIT)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers, transport=transport)

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

    def post(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` as JSON to ``base_url + path``; the decoded answer."""
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
            raise self.error(f"{self.provider} at {url} timed out") from None
        except httpx.HTTPError as e:
            raise self.error(f"cannot reach {self.provider} at {url}: {e}") from None
        except _RetryableAnswer as last:
            response = last.response  # out of tries: say what the server answered
        if response.status_code in (401, 403):
            raise self.error(
                f"{self.provider} at {url} rejected the API key (HTTP {response.status_code})"
            )
        if response.status_code >= 400:
            raise self.error(
                f"{self.provider} at {url} answered HTTP {response.status_code}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError:
            raise self.error(f"{self.provider} at {url} answered with invalid JSON") from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
