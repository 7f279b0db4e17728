"""Polling until something is so, through tenacity: one helper for every wait redvec does
(indexes fully indexed, a server loaded or gone, a background save finished)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

__all__ = ["poll_until"]

T = TypeVar("T")


def poll_until(check: Callable[[], T | None], *, timeout: float, interval: float) -> T | None:
    """Call ``check`` every ``interval`` seconds until it returns something other than
    None, and return that; None when ``timeout`` seconds pass first. An exception from
    ``check`` ends the wait and propagates (a check that should ride one out catches it
    and returns None)."""
    retrying: Retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(interval),
        retry=retry_if_result(lambda result: result is None),
        retry_error_callback=lambda _state: None,
    )
    return retrying(check)
