"""Predict the memory an index of N vectors takes, before loading them.

Two parts, per vector:

- the document: a HASH whose vector field is too large for a listpack, so a hash
  table with the vector as an allocation of its own (rounded up to jemalloc's size
  class), plus RediSearch's document table entry;
- the index: the vector again, in the index's own blocks, and for HNSW the graph
  (neighbour lists, which grow with M, and per-node metadata).

The constants were fitted to measurements on this Redis 8.2 / RediSearch 2.10 (128-d
and 384-d, M 0/16/32, 20k-100k vectors: within 3% of ``used_memory``); docs/benchmarks.md
lists predictions beside the measured points of ``benchmarks/scale.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from redvec.errors import ValidationError

__all__ = ["MemoryEstimate", "estimate_memory"]

BYTES = {"FLOAT32": 4, "FLOAT64": 8, "FLOAT16": 2, "BFLOAT16": 2}
DOC_FACTOR = 1.1  # hash table entry, field name, sds header: ~10% over the vector's class
DOC_OVERHEAD = 400  # bytes per document beyond that: key, dict entry, RediSearch doc table
GRAPH_BASE = 250  # bytes per HNSW node regardless of M (metadata, label map, level data)
GRAPH_PER_M = 7.5  # bytes per node per unit of M (neighbour and incoming-edge lists)
FLAT_OVERHEAD = 61  # bytes per FLAT entry beyond the vector


def _jemalloc(size: int) -> int:
    """The size class jemalloc serves ``size`` bytes from (four classes per doubling)."""
    if size <= 128:
        return -(-size // 16) * 16
    step = 1 << ((size - 1).bit_length() - 3)
    return -(-size // step) * step


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory an index would take, in MiB: the document keys, the vector index, and
    their total."""

    n: int
    dims: int
    datatype: str
    m: int
    keys_mb: float
    vector_index_mb: float
    total_mb: float
    bytes_per_vector: float

    def to_dict(self) -> dict[str, Any]:
        """The estimate as JSON-ready data."""
        return asdict(self)


def estimate_memory(n: int, dims: int, datatype: str = "FLOAT32", m: int = 16) -> MemoryEstimate:
    """What ``n`` vectors of ``dims`` would take in an HNSW index of ``m`` (an estimate from
    RediSearch's layout; docs/benchmarks.md compares it with measured memory)."""
    dt = datatype.upper()
    if dt not in BYTES:
        raise ValidationError(f"--type must be one of {', '.join(BYTES)}, got {datatype!r}")
    if n < 1 or dims < 1 or m < 0 or m == 1:
        raise ValidationError("n and dim must be positive, and M 0 (FLAT) or at least 2")
    vec = dims * BYTES[dt]
    doc = DOC_FACTOR * _jemalloc(vec + 3) + DOC_OVERHEAD
    index = vec + (FLAT_OVERHEAD if m == 0 else GRAPH_BASE + GRAPH_PER_M * m)
    mb = 2**20
    return MemoryEstimate(
        n, dims, dt, m, n * doc / mb, n * index / mb, n * (doc + index) / mb, doc + index
    )
