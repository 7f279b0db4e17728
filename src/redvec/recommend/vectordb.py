"""The recommendation seed's ``VectorDB``, kept small and familiar.

Users are HASHes with their interests as a float32 vector; ``vector_search`` answers
``(id, score)`` pairs sorted ascending, because the score is RediSearch's distance:
lower is closer. Everything underneath is redvec's schema, index and query code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from redvec.connection import connect
from redvec.filters import Raw
from redvec.index import SearchIndex, list_indexes
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

__all__ = ["VectorDB"]


class VectorDB:
    """``VectorDB(url)``, ``create_index()``, ``add(...)``, ``vector_search(...)``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        index_name: str = "users",
        prefix: str = "user:",
        dims: int = 3,
        distance: str = "L2",
        client: redis.Redis | None = None,
    ) -> None:
        self.client = client if client is not None else connect(url)
        self.schema = IndexSchema(
            index_name,
            prefix,
            (
                TextField("descr"),
                TagField("labels"),
                NumericField("time", sortable=True),
                VectorField("vec", dims=dims, distance=distance),
            ),
            storage="hash",
        )
        self.index = SearchIndex(self.client, self.schema)

    def create_index(self, *, overwrite: bool = False) -> None:
        """The seed's schema: ``descr`` TEXT, ``labels`` TAG, ``time`` NUMERIC, ``vec`` VECTOR."""
        if not overwrite and self.schema.name in list_indexes(self.client):
            self.index = SearchIndex.open(self.client, self.schema.name)
            return
        self.index = SearchIndex.create(self.client, self.schema, overwrite=overwrite)

    def add(
        self,
        id: str | int,
        vec: Sequence[float] | Any,
        labels: Sequence[str] = (),
        descr: str = "",
        time: float | None = None,
    ) -> None:
        """Store one user; ``vec`` as float32 bytes, ``labels`` as tags."""
        doc: dict[str, Any] = {"id": id, "vec": vec, "descr": descr, "labels": list(labels)}
        if time is not None:
            doc["time"] = time
        self.index.upsert([doc])

    def vector_search(
        self,
        vec: Sequence[float] | Any,
        num_neighbours: int,
        meta_data_query: str = "*",
        vector_field: str = "vec",
    ) -> list[tuple[str, float]]:
        """The ``num_neighbours`` nearest users among those matching ``meta_data_query``
        (RediSearch syntax, e.g. ``"@labels:{books}"``: written by you, not by your users),
        as ``(id, distance)`` sorted ascending: lower is closer."""
        result = self.index.search(
            vec, num_neighbours, filter=Raw(meta_data_query), vector_field=vector_field,
            return_fields=[],
        )  # fmt: skip
        return [(h.id, float(h.distance or 0.0)) for h in result.hits]
