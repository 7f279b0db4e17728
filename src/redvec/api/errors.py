"""One error shape for every failure: ``{"error": {"code", "message"}}``.

Library errors already carry messages written for people (they name the field, the
dimension, the index), so they pass through as they are. Anything unexpected is
logged with its traceback here and answered as a bare 500: a client never sees a
stack trace.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import redis
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from redvec.errors import RedisUnavailableError, RedvecError
from redvec.index import redis_message

__all__ = ["ApiError", "answer_for", "error_parts", "error_response", "exception_handlers"]

log = logging.getLogger("redvec.api")

RETRY_AFTER = "1"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the service raises with its HTTP status and code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message


def error_parts(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The body and headers of an error answer, wherever it is sent from."""
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    headers: dict[str, str] = {}
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER
    elif status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return {"error": body}, headers


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response[Any]:
    """The service's error answer: ``{"error": {"code", "message", "details"}}`` with
    ``Retry-After`` on a 503 and ``WWW-Authenticate`` on a 401."""
    body, headers = error_parts(status, code, message, details)
    return Response(body, status_code=status, headers=headers or None)


def answer_for(exc: Exception, method: str, path: str) -> tuple[int, str, str]:
    """Status, code and message for an exception a handler raised; an unexpected one is
    logged with its traceback (the client only learns that the log has it)."""
    status, code, message = _classify(exc)
    if status == 500:
        log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return status, code, message


def _classify(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message
    if isinstance(exc, RedvecError) and exc.status is not None:
        if isinstance(exc, RedisUnavailableError):
            return exc.status, exc.code, f"Redis is unavailable: {exc}"
        return exc.status, exc.code, str(exc)
    # What redis-py raises past the library (a lost connection mid-call, an ACL refusal).
    # BusyLoadingError is a ConnectionError: asked first.
    if isinstance(exc, redis.BusyLoadingError):
        return 503, "redis_loading", "Redis is loading its data; retry shortly"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return 503, RedisUnavailableError.code, f"Redis is unavailable: {exc}"
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return (
            503,
            "redis_forbidden",
            (
                f"Redis refused the service's user: {redis_message(exc)}; give it the role it "
                f"needs (redvec acl create-user)"
            ),
        )
    if isinstance(exc, redis.ResponseError):
        return 422, "redis_refused", f"Redis refused the request: {redis_message(exc)}"
    return 500, "internal_error", "internal error; the service log has the details"


def _handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return _validation(exc)
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status == 400:
            return _undecodable(exc, _cached_body(request))
        message = exc.detail or _CODES.get(status, "error").replace("_", " ")
        if status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        elif status == 404:
            message = f"no route {request.method} {request.url.path}"
        return error_response(status, _CODES.get(status, "error"), message)
    return error_response(*answer_for(exc, request.method, request.url.path))


def _cached_body(request: Request[Any, Any, Any]) -> bytes:
    """The body Litestar already read, if it did (handlers here are sync)."""
    body = request._connection_state.body
    return body if isinstance(body, bytes) else b""


_NON_FINITE = re.compile(rb"[\[,:]\s*-?(NaN|Infinity)\b")


def _validation(exc: ValidationException) -> Response[Any]:
    """Litestar's 400 for a body that decodes but does not validate becomes our 422,
    with each problem named (``k: Expected 'int' <= 1000``)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    messages = []
    for p in (e for e in extra if isinstance(e, dict)):
        key = p.get("key")
        msg = str(p.get("message", "")).replace("`", "'")
        messages.append(f"{key}: {msg}" if key and key != "data" else msg)
    return error_response(422, "invalid_request", "; ".join(messages) or (exc.detail or "invalid"))


def _undecodable(exc: HTTPException, body: bytes) -> Response[Any]:
    """A body that is not JSON is a 400, except JSON with NaN or Infinity (as Python's
    json.dumps writes them): that is a well-formed request with a bad vector, a 422."""
    if _NON_FINITE.search(body):
        return error_response(
            422,
            "invalid_request",
            "numbers must be finite: NaN and Infinity are not allowed (nor valid JSON)",
        )
    return error_response(400, "bad_request", f"the body is not valid JSON: {exc.detail}")


exception_handlers: dict[type[Exception] | int, Any] = {Exception: _handle}
