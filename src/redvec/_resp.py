"""RESP2 reply parsing, in one place.

redvec talks RESP2 (``protocol=2``) on purpose: redis-py 8 defaults to RESP3, whose
FT.SEARCH/FT.INFO replies are maps with another layout, and managed Redis services
differ in what they accept. Every raw reply redvec reads goes through here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["pairs", "text"]


def text(value: Any) -> Any:
    """Decode bytes to str (UTF-8, replacing bad bytes); leave other values as they are."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def pairs(flat: list[Any] | None) -> dict[str, Any]:
    """``[k1, v1, k2, v2, ...]`` -> ``{k1: v1, ...}``, keys decoded, nested lists kept."""
    if not flat:
        return {}
    return {text(k): v for k, v in zip(flat[::2], flat[1::2], strict=False)}
