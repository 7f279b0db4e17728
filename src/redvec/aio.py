"""One index from asyncio: :class:`AsyncSearchIndex` runs the very plans of
:mod:`redvec.core` that :class:`SearchIndex` runs, on a ``redis.asyncio`` client.

Building a request and parsing a reply are pure CPU work and happen in the plans; only
the round trips are awaited here, so both classes give identical answers and raise the
same errors (tests/test_congruence.py holds them to it). The HTTP service answers each
search on its event loop this way: a thread hop per request cost it a third of its
throughput (docs/api.md).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import numpy as np
import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from redvec.catalog import create_plan, open_plan
from redvec.connection import unavailable
from redvec.core import DocumentWalk, HybridPlan, IndexCore
from redvec.index import SearchIndex, queue
from redvec.plans import Meanwhile, Pause, Plan, Step, run_work
from redvec.query import KnnQuery, SearchResult, TextQuery
from redvec.schema import IndexSchema
from redvec.storage import SPLIT_SEARCH_SCRIPT
from redvec.surface import AsyncVectorIndex

__all__ = ["AsyncSearch", "AsyncSearchIndex"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def _run_async(
    client: Any, schema: IndexSchema | None, index: str, script: Any, plan: Plan[_T]
) -> _T:
    """Drive ``plan`` to its result on an asyncio client (as :func:`redvec.index` does
    on a sync one): the same steps, awaited."""

    async def trip(step: list[Any]) -> list[Any]:
        if len(step) == 1:
            try:
                return [await queue(client, step[0], schema, index, script)]
            except redis.ResponseError as e:
                return [e]
        pipe = client.pipeline(transaction=False)
        for command in step:
            queued = queue(pipe, command, schema, index, script)
            if asyncio.iscoroutine(queued):  # a script queues itself when awaited
                await queued
        return list(await pipe.execute(raise_on_error=False))

    try:
        step: Step = next(plan)
        while True:
            if isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
                step = plan.send(None)
            elif isinstance(step, Meanwhile):
                # The work runs in a thread, so the event loop keeps serving meanwhile.
                replies, (result, error) = await asyncio.gather(
                    trip(step.commands), asyncio.to_thread(run_work, step.work)
                )
                step = plan.send((replies, result, error))
            else:
                step = plan.send(await trip(step))
    except StopIteration as done:
        return cast(_T, done.value)
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise unavailable(e) from e


def _async(
    plan: Callable[Concatenate[IndexCore, _P], Plan[_T]],
) -> Callable[Concatenate[AsyncSearchIndex, _P], Coroutine[Any, Any, _T]]:
    """An :class:`AsyncSearchIndex` method that runs the core's plan of the same name."""

    @functools.wraps(plan)
    async def method(self: AsyncSearchIndex, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return await self.run(plan(self.core, *args, **kwargs))

    return method


class AsyncSearchIndex:
    """An index and the documents under its prefix, on an asyncio Redis client: every
    operation of :class:`SearchIndex`, awaited, with the same arguments and answers."""

    def __init__(
        self,
        client: aredis.Redis,
        schema: IndexSchema,
        *,
        batch_size: int = 500,
        core: IndexCore | None = None,
    ) -> None:
        self.client = client
        self.core = core if core is not None else IndexCore(schema, batch_size=batch_size)
        self._split_script: AsyncScript = client.register_script(SPLIT_SEARCH_SCRIPT)

    async def run(self, plan: Plan[_T]) -> _T:
        """Run a plan of :mod:`redvec.core` on this index's client."""
        return await _run_async(
            self.client, self.schema, self.search_name, self._split_script, plan
        )

    @property
    def schema(self) -> IndexSchema:
        """The index's schema (fields, storage mode, vector parameters)."""
        return self.core.schema

    @property
    def name(self) -> str:
        """The index's own name (an alias it was opened through is ``alias``)."""
        return self.core.name

    @property
    def search_name(self) -> str:
        """Where searches are sent: the alias when opened through one (follows a reindex)."""
        return self.core.search_name

    @property
    def alias(self) -> str | None:
        """The alias this index was opened through, if any."""
        return self.core.alias

    @property
    def batch_size(self) -> int:
        """How many documents one pipelined write carries (settable at any time)."""
        return self.core.batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        """How many documents one pipelined write carries (settable at any time)."""
        self.core.batch_size = value

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    async def open(cls, client: aredis.Redis, name: str, **kwargs: Any) -> AsyncSearchIndex:
        """As :meth:`SearchIndex.open`."""
        plan = open_plan(name)
        schema, alias = await _run_async(client, None, name, None, plan)
        idx = cls(client, schema, **kwargs)
        idx.core.alias = alias
        return idx

    @classmethod
    async def create(
        cls,
        client: aredis.Redis,
        schema: IndexSchema,
        *,
        overwrite: bool = False,
        successor_of: str | None = None,
        shares_prefix_with: Iterable[str] = (),
        scan_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> AsyncSearchIndex:
        """As :meth:`SearchIndex.create`: returns once the initial scan is done."""
        plan = create_plan(
            schema, overwrite=overwrite, successor_of=successor_of,
            shares_prefix_with=shares_prefix_with, scan_timeout=scan_timeout,
        )  # fmt: skip
        await _run_async(client, schema, schema.name, None, plan)
        return cls(client, schema, **kwargs)

    drop = _async(IndexCore.drop)
    info = _async(IndexCore.info)
    wait_indexed = _async(IndexCore.wait_indexed)
    count = _async(IndexCore.count)

    def refresh(self) -> None:
        """Forget cached settings (another process may have tuned the index)."""
        self.core.cached_settings = None

    get_setting = _async(IndexCore.get_setting)
    set_setting = _async(IndexCore.set_setting)
    default_ef_runtime = _async(IndexCore.default_ef_runtime)

    # -- writing ---------------------------------------------------------------------

    def encode(self, doc: Mapping[str, Any], id_field: str = "id") -> tuple[str, list[Any]]:
        """As :meth:`SearchIndex.encode` (no I/O)."""
        return self.core.encode(doc, id_field)

    upsert = _async(IndexCore.upsert)
    write_documents = _async(IndexCore.write_documents)
    indexing_failures = _async(IndexCore.indexing_failures)
    write = _async(IndexCore.write)
    update_vectors = _async(IndexCore.update_vectors)
    get = _async(IndexCore.get)
    delete = _async(IndexCore.delete)
    clear = _async(IndexCore.clear)
    merge_buffer = _async(IndexCore.merge_buffer)

    async def iter_vectors(
        self, vector_field: str | None = None, batch: int = 1000
    ) -> AsyncIterator[tuple[list[str], np.ndarray]]:
        """As :meth:`SearchIndex.iter_vectors`, as an async iterator."""
        vf = self.schema.vector_field(vector_field)
        store = self.schema.store
        walk = DocumentWalk(self.schema)
        found: list[tuple[str, Any]] = []

        async def fetch() -> tuple[list[str], np.ndarray]:
            pipe = self.client.pipeline(transaction=False)
            for _, key in found:
                pipe.execute_command(*store.vector_read(key, vf))
            ids, rows = [], []
            for (doc_id, _), raw in zip(found, await pipe.execute(), strict=True):
                row = store.vector_decode(raw, vf)
                if row is not None and row.shape == (vf.dims,):
                    ids.append(doc_id)
                    rows.append(row)
            found.clear()
            matrix = np.vstack(rows) if rows else np.zeros((0, vf.dims), dtype=np.float32)
            return ids, matrix

        try:
            for pattern in walk.patterns:
                async for key in self.client.scan_iter(match=pattern, count=batch):
                    doc_id = walk.take(key)
                    if doc_id is not None:
                        found.append((doc_id, key))
                    if len(found) >= batch:
                        yield await fetch()
            if found:
                yield await fetch()
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise unavailable(e) from e

    # -- searching ---------------------------------------------------------------------

    search = _async(IndexCore.search)
    query = _async(IndexCore.query)
    plan = _async(IndexCore.plan)
    search_many = _async(IndexCore.search_many)
    range_search = _async(IndexCore.range_search)
    range_query = _async(IndexCore.range_query)
    text_search = _async(IndexCore.text_search)
    text_query = _async(IndexCore.text_query)
    hybrid_search = _async(IndexCore.hybrid_search)
    hybrid_plan = _async(IndexCore.hybrid_plan)
    hybrid = _async(IndexCore.hybrid)


class AsyncSearch:
    """Searches of an open :class:`SearchIndex` from asyncio, sharing its core (its
    schema, alias and cached settings): what the HTTP service keeps per index."""

    def __init__(self, index: SearchIndex, client: aredis.Redis) -> None:
        self.index = index
        self.aio = AsyncSearchIndex(client, index.schema, core=index.core)

    async def query(self, q: KnnQuery) -> SearchResult:
        """One KNN query, as :meth:`AsyncSearchIndex.query` answers it."""
        return await self.aio.query(q)

    async def query_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """Many KNN queries in one pipelined round trip; a bad one is named by position."""
        return await self.aio.search_many(queries)

    async def text(self, q: TextQuery) -> SearchResult:
        """BM25 full-text search, as :meth:`SearchIndex.text_search` answers it."""
        return await self.aio.text_query(q)

    async def hybrid(self, plan: HybridPlan) -> SearchResult:
        """Send a plan from :meth:`SearchIndex.hybrid_plan`; fuse its two rankings."""
        return await self.aio.hybrid(plan)


if TYPE_CHECKING:  # mypy holds the class to the shared surface

    def _conforms(index: AsyncSearchIndex) -> AsyncVectorIndex:
        return index
