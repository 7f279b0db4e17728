"""Comma-separated lists as users type them (``--mode dense,bm25``, ``M=16,32``), read one
way everywhere: items stripped, empty items dropped, integers checked with the option
named in the error."""

from __future__ import annotations

from redvec.errors import RedvecError, ValidationError

__all__ = ["comma_list", "positive_ints"]


def comma_list(text: str) -> list[str]:
    """``" a, b,,c "`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def positive_ints(text: str, what: str, error: type[RedvecError] = ValidationError) -> list[int]:
    """``"16,32"`` -> ``[16, 32]``; anything else is ``error`` naming ``what``."""
    try:
        values = [int(v) for v in comma_list(text)]
    except ValueError:
        raise error(f"{what}: integers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise error(f"{what}: positive integers, got {text!r}")
    return values
