"""The surface every index handle offers, written down once.

:class:`VectorIndex` is what code may rely on whichever handle it holds: a
:class:`redvec.SearchIndex` on one Redis, or a :class:`redvec.cluster.ClusterIndex`
spanning a Redis Cluster's shards; :class:`AsyncVectorIndex` is the same surface awaited
(:class:`redvec.AsyncSearchIndex`). Code written against the protocol (the LangChain
store, the MCP server, a user's own service) runs on any of them unchanged, and
``tests/test_congruence.py`` holds the three to the same answers for the same calls.

Full-text (BM25) and hybrid search are not part of the shared surface: a sharded index
scores BM25 with each shard's own term statistics, so its scores (and hence its fused
ranking) differ from one node's. They stay methods of the single-index handles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from redvec.filters import Filter
from redvec.query import KnnQuery, RangeQuery, SearchResult
from redvec.schema import IndexSchema

__all__ = ["AsyncVectorIndex", "VectorIndex"]


@runtime_checkable
class VectorIndex(Protocol):
    """One logical index: its documents, and KNN and range search over them.

    Every method that talks to Redis raises a :class:`redvec.errors.RedvecError`
    (a lost connection included); distances are in the index's metric.
    """

    @property
    def name(self) -> str:
        """The index's name as created (what ``open`` takes)."""
        ...

    @property
    def schema(self) -> IndexSchema:
        """The index's schema: fields, storage mode, vector parameters."""
        ...

    def count(self) -> int:
        """How many documents the index holds."""
        ...

    def wait_indexed(self, timeout: float = 600.0) -> None:
        """Return once every written document is searchable (at most ``timeout`` s)."""
        ...

    def drop(self, *, delete_documents: bool = False) -> None:
        """Drop the index; its documents stay unless ``delete_documents``."""
        ...

    def upsert(self, docs: Iterable[Mapping[str, Any]], *, id_field: str = "id") -> int:
        """Write whole documents (each replaces any stored under its id); returns how many."""
        ...

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[dict[str, Any] | None]:
        """Documents by id, in order; ``None`` where an id is not stored."""
        ...

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id; returns how many were stored."""
        ...

    def search(
        self,
        vector: Any,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        ef_runtime: int | None = None,
        hybrid_policy: str | None = None,
        batch_size: int | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """The ``k`` nearest documents to ``vector`` among those matching ``filter``."""
        ...

    def query(self, q: KnnQuery) -> SearchResult:
        """A KNN query built by the caller."""
        ...

    def search_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """Many KNN queries at once (pipelined); a bad one is named by its position."""
        ...

    def range_search(
        self,
        vector: Any,
        radius: float,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        epsilon: float | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """Documents within ``radius`` of ``vector``, nearest first, at most ``k``."""
        ...

    def range_query(self, q: RangeQuery) -> SearchResult:
        """A range query built by the caller."""
        ...


@runtime_checkable
class AsyncVectorIndex(Protocol):
    """:class:`VectorIndex`, awaited: the same methods, arguments and answers."""

    @property
    def name(self) -> str:
        """The index's name as created."""

    @property
    def schema(self) -> IndexSchema:
        """The index's schema."""

    async def count(self) -> int:
        """As :meth:`VectorIndex.count`, awaited."""

    async def wait_indexed(self, timeout: float = 600.0) -> None:
        """As :meth:`VectorIndex.wait_indexed`, awaited."""

    async def drop(self, *, delete_documents: bool = False) -> None:
        """As :meth:`VectorIndex.drop`, awaited."""

    async def upsert(self, docs: Iterable[Mapping[str, Any]], *, id_field: str = "id") -> int:
        """As :meth:`VectorIndex.upsert`, awaited."""

    async def get(
        self, ids: Sequence[str], *, with_vectors: bool = False
    ) -> list[dict[str, Any] | None]:
        """As :meth:`VectorIndex.get`, awaited."""

    async def delete(self, ids: Sequence[str]) -> int:
        """As :meth:`VectorIndex.delete`, awaited."""

    async def search(
        self,
        vector: Any,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        ef_runtime: int | None = None,
        hybrid_policy: str | None = None,
        batch_size: int | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """As :meth:`VectorIndex.search`, awaited."""

    async def query(self, q: KnnQuery) -> SearchResult:
        """As :meth:`VectorIndex.query`, awaited."""

    async def search_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """As :meth:`VectorIndex.search_many`, awaited."""

    async def range_search(
        self,
        vector: Any,
        radius: float,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        epsilon: float | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """As :meth:`VectorIndex.range_search`, awaited."""

    async def range_query(self, q: RangeQuery) -> SearchResult:
        """As :meth:`VectorIndex.range_query`, awaited."""
