"""Vectors in and out of Redis: checked, converted, packed.

Every vector is checked before it is written or sent as a query, because RediSearch
accepts wrong-sized blobs into a HASH (the document just fails to index) and answers
``-nan`` for a zero vector under COSINE.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt

from redvec.errors import VectorError
from redvec.schema import VectorField

__all__ = ["check_vector", "from_bytes", "query_blob", "to_bytes"]

FloatArray = npt.NDArray[np.float32]
# The fast path reads native float32 as little-endian words, as Redis stores them.
_F32 = np.dtype("<f4") if sys.byteorder == "little" else None
_F32_MAX = float(np.finfo(np.float32).max)


def check_vector(value: Any, field: VectorField, *, what: str = "vector") -> FloatArray:
    """A 1-d float32 (float64 for FLOAT64 fields) array of ``value``, or a clear error.

    A list is read as float64 and then cast: as fast as a float32 read for Python floats,
    and four times faster for a list of numpy scalars (``list(embedding)``: 15 µs
    against 64 µs for 384 of them on this machine, where numpy casts each scalar to
    float32 one by one). The float64 values are checked before the cast, so a value beyond
    float32 is refused instead of turning into inf, and an integer beyond any float is
    refused too.
    """
    dtype = np.float64 if field.datatype == "FLOAT64" else np.float32
    vec: npt.NDArray[Any]  # float64 for a FLOAT64 field
    wide: npt.NDArray[Any] | None = None  # a list read as float64, before its cast
    if isinstance(value, np.ndarray) and value.dtype == dtype:
        vec = value
    else:
        try:
            wide = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise VectorError(
                f"{what} for field '{field.name}' must be a list of numbers"
            ) from None
        except OverflowError:  # an integer with more digits than any float holds
            raise VectorError(
                f"{what} for field '{field.name}' has a value beyond float32"
            ) from None
        vec = wide  # checked below, then cast
    if vec.ndim != 1:
        raise VectorError(
            f"{what} for field '{field.name}' must be one-dimensional, got shape {vec.shape}"
        )
    if vec.shape[0] != field.dims:
        raise VectorError(
            f"{what} for field '{field.name}' has dimension {vec.shape[0]}, expected {field.dims}"
        )
    # isfinite, abs and any raise no floating-point warnings, so they need no errstate
    # (whose context manager cost more than the checks on the search path).
    if wide is not None and dtype is np.float32:
        # NaN fails the comparison too; an empty vector was refused by its dimension.
        if not np.abs(wide).max() <= _F32_MAX:
            raise VectorError(
                f"{what} for field '{field.name}' contains NaN or infinity "
                f"(or a value beyond float32)"
            )
        vec = wide.astype(np.float32)
    elif not np.isfinite(vec).all():
        raise VectorError(
            f"{what} for field '{field.name}' contains NaN or infinity (or a value beyond float32)"
        )
    if field.datatype == "FLOAT16" and (np.abs(vec) > 65504).any():
        raise VectorError(f"{what} for field '{field.name}' overflows FLOAT16 (|x| > 65504)")
    if field.distance == "COSINE":
        if not vec.any():
            raise VectorError(
                f"{what} for field '{field.name}' is all zeros, which has no direction under COSINE"
            )
        _check_cosine_norm(vec if wide is None else wide, field, what)
    return vec


def _check_cosine_norm(vec: Any, field: VectorField, what: str) -> None:
    """RediSearch keeps a COSINE vector's length as a float32: one longer than float32's
    largest number becomes inf and the vector turns into zeros (distance 1.0 to
    everything, measured on 2.10.5 with [3e38, 3e38, 0, 0]). Refuse it; the length is
    computed in float64, where it cannot overflow. Tiny vectors are fine (RediSearch
    normalises them correctly down to float32's smallest normal numbers)."""
    if field.datatype == "FLOAT64":
        return
    wide = np.asarray(vec, dtype=np.float64)
    length = math.sqrt(float(np.dot(wide, wide)))
    if length > _F32_MAX:
        raise VectorError(
            f"{what} for field '{field.name}' is too long for COSINE: its length {length:.3g} "
            f"overflows float32 (max {_F32_MAX:.3g}); scale it down (only its direction "
            f"counts under COSINE)"
        )


def to_bytes(vec: np.ndarray, field: VectorField) -> bytes:
    """Little-endian bytes in the field's datatype (BFLOAT16 rounded to nearest even)."""
    if field.datatype == "BFLOAT16":
        bits = np.asarray(vec, dtype="<f4").view("<u4").astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    if vec.dtype == field.numpy_dtype:
        return vec.tobytes()  # already packed as the field wants: no copy
    return np.asarray(vec, dtype=field.numpy_dtype).tobytes()


def from_bytes(blob: bytes, field: VectorField) -> FloatArray:
    """A stored vector's bytes as a float32 array, by the field's datatype."""
    if field.datatype == "BFLOAT16":
        halves = np.frombuffer(blob, dtype="<u2").astype("<u4") << 16
        return halves.view("<f4").astype(np.float32)
    return np.frombuffer(blob, dtype=field.numpy_dtype).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _float32_masks(dims: int) -> tuple[int, int, int, int]:
    """Per-word masks over a whole packed vector read as one integer: exponent bits,
    the exponent's lowest bit, the sign bit, and everything but the sign."""
    return tuple(  # type: ignore[return-value]
        int.from_bytes(word * dims, "little")
        for word in (
            b"\x00\x00\x80\x7f",
            b"\x00\x00\x80\x00",
            b"\x00\x00\x00\x80",
            b"\xff\xff\xff\x7f",
        )
    )


@functools.lru_cache(maxsize=64)
def _top_exponent_bit(dims: int) -> int:
    """Per-word mask of the exponent's top bit (float bit 30)."""
    return int.from_bytes(b"\x00\x00\x00\x40" * dims, "little")


def _cosine_length_safe(bits: int, dims: int) -> bool:
    """True when the length of the packed float32 vector ``bits`` is surely below
    float32's largest number; False means "check exactly" (:func:`check_vector`).

    With the biased exponent e (e7..e0 at bits 30..23 of each word), no word with both
    e7 and e6 set (e >= 192) means every |x| < 2^65, so over at most 2^15 words the
    length stays below 2^73: ``bits & bits << 1`` lines each word's e6 up under its e7.
    """
    if dims > 1 << 15:
        return False
    return not bits & (bits << 1) & _top_exponent_bit(dims)


def query_blob(value: Any, field: VectorField, *, what: str = "query vector") -> bytes:
    """The bytes to send for a query vector: ``to_bytes(check_vector(...))``, made cheap
    for the common cases on a FLOAT32 field: a float32 numpy vector, or a list of
    numbers (a JSON body), packed by :mod:`array` without numpy.

    Between two round trips to Redis the CPU caches are cold, and there each numpy ufunc
    call (isfinite, all, any) cost 5-15 µs instead of the 1-2 µs a tight loop shows: the
    checks alone were 10% of a 200 µs search. Here the packed vector is read as one
    integer and every float is checked at once with three integer operations: a float32
    is NaN or infinite exactly when its 8 exponent bits are all ones, so adding one at
    the exponent's lowest bit carries into the (masked-off) sign bit of that word and of
    no other; the vector is all zeros exactly when nothing but sign bits is set. Any
    doubt goes to :func:`check_vector` for its exact message.
    """
    blob: bytes | None = None
    if field.datatype == "FLOAT32" and _F32 is not None:
        if value.__class__ is np.ndarray:
            if value.dtype is _F32 and value.shape == (field.dims,):
                blob = value.tobytes()
        elif value.__class__ is list and len(value) == field.dims:  # as JSON decodes it
            try:
                blob = array("f", value).tobytes()  # out of range becomes inf: refused below
            except (TypeError, OverflowError):
                blob = None  # not numbers: check_vector says so
    if blob is not None:
        exponent, low, sign, magnitude = _float32_masks(field.dims)
        bits = int.from_bytes(blob, "little")
        if not ((bits & exponent) + low) & sign:
            if field.distance != "COSINE":
                return blob
            if bits & magnitude and _cosine_length_safe(bits, field.dims):
                return blob
    return to_bytes(check_vector(value, field, what=what), field)
