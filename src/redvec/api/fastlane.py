"""The search route's fast lane: ``POST /v1/indexes/{name}/search`` answered by a thin
ASGI layer in front of the Litestar app instead of by Litestar's handler machinery.

A search through the Litestar handler cost the service about 430 µs of CPU, of which
about 100 µs was the handler machinery (signature model, keyword arguments, response
object, exception middleware): a bare Litestar handler around the same search served
2345 req/s, the same search answered from a middleware 3070 (docs/benchmarks.md). Every
other route, the OpenAPI document and the handler for this route stay Litestar's.

The lane only answers what it can answer exactly as the handler would: a body that
decodes into a :class:`SearchRequest` is searched by the same function the handler
calls (:func:`redvec.api.searching.answer_search`), and any exception it raises gets
the same status, code, message and headers as the app's exception handler gives.
Everything else (a body that is not JSON or does not validate, one over the size
limit or with a content type other than JSON) goes to the Litestar handler with the
body replayed, so those answers are Litestar's own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec

from redvec.api.errors import answer_for, error_parts
from redvec.api.metrics import Metrics
from redvec.api.models import SearchRequest, SearchResponse

__all__ = ["SEARCH_ROUTE", "fast_lane"]

SEARCH_ROUTE = "/v1/indexes/{name}/search"
_HEAD, _TAIL = "/v1/indexes/", "/search"

Search = Callable[[str, SearchRequest, Mapping[str, str]], Awaitable[SearchResponse]]
ASGI = Callable[..., Awaitable[None]]

_decoder = msgspec.json.Decoder(SearchRequest)
_encoder = msgspec.json.Encoder()
_JSON = (b"content-type", b"application/json")


def fast_lane(app: ASGI, search: Search, max_body: int, metrics: Metrics) -> ASGI:
    """``app`` with the search route's ordinary requests answered by ``search``."""
    answered = metrics.fast_lane.labels("answered")
    handed_over = metrics.fast_lane.labels("handed_over")
    latency = metrics.latency.labels(SEARCH_ROUTE, "POST")
    requests: dict[int, Any] = {}

    async def lane(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not (path.startswith(_HEAD) and path.endswith(_TAIL))
            or "/" in (name := path[len(_HEAD) : -len(_TAIL)])
            or not name
        ):
            await app(scope, receive, send)
            return
        start = time.perf_counter()
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            headers.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
        declared = headers.get("content-length", "")
        content_type = headers.get("content-type", "")
        if (declared.isdigit() and int(declared) > max_body) or not (
            content_type.startswith("application/json")
        ):
            handed_over.inc()
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = bool(message.get("more_body"))
            if size > max_body or not more:
                break
        body = b"".join(chunks)
        try:
            request = None if size > max_body else _decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            request = None
        if request is None:
            handed_over.inc()
            await app(scope, _replay(body, more, receive), send)
            return
        answered.inc()
        status = 200
        extra: dict[str, str] = {}
        try:
            payload = _encoder.encode(await search(name, request, headers))
        except Exception as exc:
            status, code, text = answer_for(exc, "POST", path)
            error, extra = error_parts(status, code, text)
            payload = _encoder.encode(error)
        try:
            await _send(send, status, payload, extra)
        finally:
            # The same series the app's metrics middleware writes for handed-over requests.
            counter = requests.get(status)
            if counter is None:
                counter = requests[status] = metrics.requests.labels(
                    SEARCH_ROUTE, "POST", str(status)
                )
            counter.inc()
            latency.observe(time.perf_counter() - start)

    return lane


def _replay(body: bytes, more: bool, receive: Any) -> Any:
    """A receive that hands out what the lane already read, then the rest."""
    replayed = False

    async def again() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        message: dict[str, Any] = await receive()
        return message

    return again


async def _send(send: Any, status: int, payload: bytes, extra: dict[str, str]) -> None:
    headers = [_JSON, (b"content-length", str(len(payload)).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
