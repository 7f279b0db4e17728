"""One search index in Redis: create it, write and read documents, search it.

The schema of every index redvec creates is kept beside it (``redvec:schema:<name>``),
so that any process can open the index by name and know its storage mode, vector
parameters and defaults (such as a tuned EF_RUNTIME). An index created by someone
else is described from ``FT.INFO`` instead.

:class:`SearchIndex` runs the plans of :mod:`redvec.core` on a sync client; every rule
(validation, encoding, requests, replies, errors) lives there, shared with
:class:`redvec.aio.AsyncSearchIndex`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from redvec._resp import text
from redvec.catalog import create_plan, open_plan
from redvec.connection import unavailable
from redvec.core import DocumentWalk, HybridPlan, IndexCore, IndexInfo, WriteError, WriteReport
from redvec.plans import (
    Meanwhile,
    Pause,
    Plan,
    Search,
    Step,
    redis_message,
    run_work,
    search_error,
)
from redvec.query import KnnQuery, SearchResult
from redvec.schema import BUFFER_SUFFIX, IndexSchema
from redvec.storage import SPLIT_SEARCH_SCRIPT, plain
from redvec.surface import VectorIndex

__all__ = [
    "HybridPlan",
    "IndexInfo",
    "SearchIndex",
    "WriteError",
    "WriteReport",
    "list_indexes",
    "plain",
    "queue",
    "redis_message",
    "search_error",
]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def list_indexes(client: redis.Redis) -> list[str]:
    """The names of the indexes on this Redis (FT._LIST), sorted; write buffers' own
    indexes (``<name>.wbuf``) are part of their index and left out."""
    names = (text(n) for n in client.execute_command("FT._LIST"))
    return sorted(n for n in names if not n.endswith(BUFFER_SUFFIX))


def queue(target: Any, command: Any, schema: IndexSchema | None, index: str, script: Any) -> Any:
    """Send (or, on a pipeline, queue) one command of a plan on ``target``, sync or async.

    DEL and UNLINK of keys in several slots go through the client's own method, which a
    cluster client splits by slot; a :class:`redvec.core.Search` goes through the storage
    mode (split storage sends it inside its join ``script``)."""
    if isinstance(command, Search):
        if schema is None:
            raise TypeError("a plan run without a schema sent a search")
        buffer = schema.buffer
        if buffer is not None and command.index == buffer.name:
            schema = buffer  # its keys' prefix, for split storage's join
        return schema.store.send_search(
            target,
            schema,
            command.index or index,
            command.args,
            scored=command.scored,
            script=script,
        )
    name = command[0]
    if name in ("DEL", "UNLINK") and len(command) > 2 and not _one_slot(command[1:]):
        return target.delete(*command[1:]) if name == "DEL" else target.unlink(*command[1:])
    return target.execute_command(*command)


def _one_slot(keys: tuple[Any, ...]) -> bool:
    """Whether ``keys`` share one cluster slot (a document and its buffered twin do): then
    one DEL of them all is atomic everywhere, and a cluster pipeline takes it."""
    first = key_slot(_as_bytes(keys[0])) if keys else 0
    return all(key_slot(_as_bytes(k)) == first for k in keys[1:])


def _as_bytes(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


def _opens(command: Any) -> bool:
    return isinstance(command, tuple) and command[:1] == ("MULTI",)


# A MULTI ... EXEC group run as one script: atomic like the transaction, and like EXEC it
# runs every command whatever one of them answers (redis.pcall), giving each one's reply.
# ARGV holds the commands as (argument count, arguments...) one after another.
# The shebang makes Redis refuse the whole script, before any of it runs, when memory is
# over maxmemory (as EXEC aborts a transaction), not the write after the DEL that ran.
ATOMIC_SCRIPT = """#!lua
local out = {}
local i = 1
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  out[#out + 1] = redis.pcall(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return out
"""


def _keys_of(command: tuple[Any, ...]) -> tuple[Any, ...]:
    """The keys a write of a buffered transaction names (a script declares every key it
    touches): all arguments of DEL and UNLINK, source and target of COPY, else the first."""
    name = str(command[0]).upper()
    if name in ("DEL", "UNLINK"):
        return command[1:]
    return command[1:3] if name == "COPY" else command[1:2]


def _cluster_trip(
    client: RedisCluster, step: list[Any], send: Callable[[Any, Any], Any]
) -> list[Any]:
    """A round trip holding ``MULTI`` ... ``EXEC`` groups, on a cluster client: a cluster
    pipeline routes each command by its key, so a MULTI sent as a command lands on one
    node and its EXEC on another, and a cluster transaction takes one slot, a round trip
    each. A run of groups goes in one cluster pipeline instead, each group as one EVAL of
    :data:`ATOMIC_SCRIPT` routed by its keys (they share a slot: a buffered twin keeps
    its document's hash tag), so a batch of buffered writes is one round trip per node;
    the commands between runs go in plain pipelines, in the step's order. The replies are
    laid out as one pipeline's would be (``OK``, ``QUEUED`` each, then EXEC's list)."""
    out: list[Any] = []
    at = 0
    while at < len(step):
        if _opens(step[at]):
            pipe = client.pipeline(transaction=False)
            sizes = []
            while at < len(step) and _opens(step[at]):
                end = step.index(("EXEC",), at)
                group = step[at + 1 : end]
                keys = list(dict.fromkeys(k for command in group for k in _keys_of(command)))
                flat = [part for command in group for part in (len(command), *command)]
                pipe.execute_command("EVAL", ATOMIC_SCRIPT, len(keys), *keys, *flat)
                sizes.append(len(group))
                at = end + 1
            for size, replies in zip(sizes, pipe.execute(raise_on_error=False), strict=True):
                out += [b"OK", *([b"QUEUED"] * size), replies]
            continue
        end = next((n for n in range(at, len(step)) if _opens(step[n])), len(step))
        pipe = client.pipeline(transaction=False)
        for command in step[at:end]:
            send(pipe, command)
        out += list(pipe.execute(raise_on_error=False))
        at = end
    return out


@functools.cache
def _sender() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that send a :class:`~redvec.plans.Meanwhile` round trip while its
    caller works (one per writer at once; more callers queue their round trips)."""
    return concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="redvec-send")


def _run_sync(
    client: Any, schema: IndexSchema | None, index: str, script: Any, plan: Plan[_T]
) -> _T:
    """Drive ``plan`` to its result on a sync client; a lost connection leaves as
    :class:`RedisUnavailableError`, so ``except RedvecError`` catches everything."""

    def trip(step: list[Any]) -> list[Any]:
        if len(step) == 1:
            try:
                return [queue(client, step[0], schema, index, script)]
            except redis.ResponseError as e:
                return [e]
        if isinstance(client, RedisCluster) and any(_opens(c) for c in step):
            return _cluster_trip(client, step, lambda t, c: queue(t, c, schema, index, script))
        pipe = client.pipeline(transaction=False)
        for command in step:
            queue(pipe, command, schema, index, script)
        return list(pipe.execute(raise_on_error=False))

    try:
        step: Step = next(plan)
        while True:
            if isinstance(step, Pause):
                time.sleep(step.seconds)
                step = plan.send(None)
            elif isinstance(step, Meanwhile):
                # redis-py waits for the replies with the GIL released, so the work runs
                # here while another thread sends the round trip and reads its replies.
                sent = _sender().submit(trip, step.commands)
                result, error = run_work(step.work)
                step = plan.send((sent.result(), result, error))
            else:
                step = plan.send(trip(step))
    except StopIteration as done:
        return cast(_T, done.value)
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise unavailable(e) from e  # the cause: redis-py's own words, for callers


def _sync(
    plan: Callable[Concatenate[IndexCore, _P], Plan[_T]],
) -> Callable[Concatenate[SearchIndex, _P], _T]:
    """A :class:`SearchIndex` method that runs the core's plan of the same name."""

    @functools.wraps(plan)
    def method(self: SearchIndex, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        return self.run(plan(self.core, *args, **kwargs))

    return method


class SearchIndex:
    """An index and the documents under its prefix, on a sync Redis client.

    Documents are mappings with an ``id`` and the schema's fields; in ``json`` and
    ``split`` storage any other (nested) metadata rides along. Every method that talks
    to Redis raises :class:`RedisUnavailableError` when Redis cannot be reached.
    """

    def __init__(
        self,
        client: redis.Redis,
        schema: IndexSchema,
        *,
        batch_size: int = 500,
        core: IndexCore | None = None,
    ) -> None:
        self.client = client
        self.core = core if core is not None else IndexCore(schema, batch_size=batch_size)
        self._split_script = client.register_script(SPLIT_SEARCH_SCRIPT)

    def run(self, plan: Plan[_T]) -> _T:
        """Run a plan of :mod:`redvec.core` on this index's client."""
        return _run_sync(self.client, self.schema, self.search_name, self._split_script, plan)

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
        """The name searches are sent to: the alias when opened through one, so that a
        long-lived handle follows the alias when a reindex swaps it."""
        return self.core.search_name

    @property
    def alias(self) -> str | None:
        """The alias this index was opened through, if any."""
        return self.core.alias

    @alias.setter
    def alias(self, value: str | None) -> None:
        self.core.alias = value

    @property
    def check_indexing(self) -> bool:
        """Whether writes compare FT.INFO's indexing failures before and after."""
        return self.core.check_indexing

    @check_indexing.setter
    def check_indexing(self, value: bool) -> None:
        self.core.check_indexing = value
        if self.core.buffered is not None:  # a buffered write is checked on the buffer
            self.core.buffered.check_indexing = value

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
    def open(cls, client: redis.Redis, name: str, **kwargs: Any) -> SearchIndex:
        """The index ``name``, or the index the alias ``name`` points to: opening an
        alias gives exactly what opening its index gives (schema, storage mode, stop
        words, settings such as a tuned EF_RUNTIME); ``alias`` records the name used."""
        schema, alias = _run_sync(client, None, name, None, open_plan(name))
        idx = cls(client, schema, **kwargs)
        idx.alias = alias
        return idx

    @classmethod
    def create(
        cls,
        client: redis.Redis,
        schema: IndexSchema,
        *,
        overwrite: bool = False,
        successor_of: str | None = None,
        shares_prefix_with: Iterable[str] = (),
        scan_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> SearchIndex:
        """FT.CREATE the index, and return once it is ready to take writes.

        Refuses a prefix that overlaps another index's, except ``successor_of``'s (a
        reindex builds a second index over the same documents) and those named in
        ``shares_prefix_with`` (a restore of indexes that shared one).

        FT.CREATE starts a background scan of the whole keyspace, every key and not only
        those under the prefix; a document written while it runs is indexed twice and
        leaves a deleted node in the HNSW graph, which costs recall (measured on
        siftsmall with 100,000 unrelated keys: recall@10 at EF 10 fell from 0.934 to
        0.87-0.90, docs/benchmarks.md). So this waits until FT.INFO reports the scan
        done (``indexing`` 0, ``percent_indexed`` 1): at once on an empty database,
        about 0.2 s per 100,000 keys otherwise (measured here), up to ``scan_timeout``.
        """
        plan = create_plan(
            schema, overwrite=overwrite, successor_of=successor_of,
            shares_prefix_with=shares_prefix_with, scan_timeout=scan_timeout,
        )  # fmt: skip
        _run_sync(client, schema, schema.name, None, plan)
        return cls(client, schema, **kwargs)

    drop = _sync(IndexCore.drop)
    info = _sync(IndexCore.info)
    wait_indexed = _sync(IndexCore.wait_indexed)
    count = _sync(IndexCore.count)

    # -- settings kept with the index (e.g. a tuned EF_RUNTIME) --------------------------

    def refresh(self) -> None:
        """Forget cached settings (another process may have tuned the index)."""
        self.core.cached_settings = None

    get_setting = _sync(IndexCore.get_setting)
    set_setting = _sync(IndexCore.set_setting)

    @property
    def default_ef_runtime(self) -> int | None:
        """The EF_RUNTIME recorded with the index (a tuned one), or None for the schema's own."""
        return self.run(self.core.default_ef_runtime())

    # -- writing ---------------------------------------------------------------------

    def encode(self, doc: Mapping[str, Any], id_field: str = "id") -> tuple[str, list[Any]]:
        """Check one document; return its id and the commands that store it.

        Raises :class:`DocumentError` naming the document and the problem.
        """
        return self.core.encode(doc, id_field)

    upsert = _sync(IndexCore.upsert)
    write_documents = _sync(IndexCore.write_documents)
    indexing_failures = _sync(IndexCore.indexing_failures)
    write = _sync(IndexCore.write)
    update_vectors = _sync(IndexCore.update_vectors)
    get = _sync(IndexCore.get)
    delete = _sync(IndexCore.delete)
    clear = _sync(IndexCore.clear)
    merge_buffer = _sync(IndexCore.merge_buffer)

    def iter_vectors(
        self, vector_field: str | None = None, batch: int = 1000
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored vector, in batches of (ids, float32 matrix); for ground truth.
        Each document once, the newest version where it has a write buffer
        (:class:`redvec.core.DocumentWalk`)."""
        vf = self.schema.vector_field(vector_field)
        store = self.schema.store
        walk = DocumentWalk(self.schema)
        found: list[tuple[str, Any]] = []

        def fetch() -> tuple[list[str], np.ndarray]:
            pipe = self.client.pipeline(transaction=False)
            for _, key in found:
                pipe.execute_command(*store.vector_read(key, vf))
            ids, rows = [], []
            for (doc_id, _), raw in zip(found, pipe.execute(), strict=True):
                row = store.vector_decode(raw, vf)
                if row is not None and row.shape == (vf.dims,):
                    ids.append(doc_id)
                    rows.append(row)
            found.clear()
            matrix = np.vstack(rows) if rows else np.zeros((0, vf.dims), dtype=np.float32)
            return ids, matrix

        for pattern in walk.patterns:
            for key in self.client.scan_iter(match=pattern, count=batch):
                doc_id = walk.take(key)
                if doc_id is not None:
                    found.append((doc_id, key))
                if len(found) >= batch:
                    yield fetch()
        if found:
            yield fetch()

    # -- searching ---------------------------------------------------------------------

    search = _sync(IndexCore.search)
    query = _sync(IndexCore.query)
    plan = _sync(IndexCore.plan)
    search_many = _sync(IndexCore.search_many)
    range_search = _sync(IndexCore.range_search)
    range_query = _sync(IndexCore.range_query)
    text_query = _sync(IndexCore.text_query)
    text_search = _sync(IndexCore.text_search)
    hybrid_search = _sync(IndexCore.hybrid_search)
    hybrid_plan = _sync(IndexCore.hybrid_plan)
    hybrid = _sync(IndexCore.hybrid)

    def hybrid_fuse(self, plan: HybridPlan, text_reply: Any, knn_reply: Any) -> SearchResult:
        """Fuse a hybrid plan's two replies by weighted reciprocal rank fusion."""
        return self.core.hybrid_fuse(plan, text_reply, knn_reply)

    def knn_args(self, q: KnnQuery) -> tuple[list[Any], Any]:
        """The FT.SEARCH arguments of a KNN query, and its vector field."""
        return self.run(self.core.knn_args(q))

    def parse(self, reply: Any, vf: Any, *, return_fields: list[str] | None = None) -> SearchResult:
        """A KNN reply as a :class:`SearchResult`."""
        return self.core.parse(reply, vf, return_fields=return_fields)


if TYPE_CHECKING:  # mypy holds the class to the shared surface

    def _conforms(index: SearchIndex) -> VectorIndex:
        return index
