"""What every controller shares: the error answers documented per route, the metrics
media type, and elapsed time as the answers report it."""

from __future__ import annotations

import time

from litestar.openapi.datastructures import ResponseSpec

from redvec.api.models import ErrorBody

__all__ = ["ERRORS", "METRICS_CONTENT_TYPE", "elapsed_ms"]

ERRORS = {
    s: ResponseSpec(ErrorBody, description=d)
    for s, d in {
        401: "No or unknown API key",
        403: "The key lacks the scope",
        404: "Unknown index or document",
        413: "Body over the limit",
        422: "Invalid request (named field or value)",
        503: "Redis is unavailable (Retry-After)",
    }.items()
}


# Prometheus' text format. Litestar appends "; charset=utf-8" to a text/* media type
# that lacks one, so the type is given without it (Prometheus 3 refuses a scrape whose
# Content-Type repeats a parameter).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()``), as answers report them."""
    return round((time.perf_counter() - start) * 1000, 3)
