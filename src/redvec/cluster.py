"""Indexes that span the shards of a Redis Cluster.

The RediSearch we embed (2.10, OSS) has no cluster coordinator: FT.* treat the index
name as a key, so an index lives on the one shard that owns its name's slot and sees
only that shard's documents. redvec therefore gives a cluster index one physical index
per shard, named with a hash tag that maps to a slot the shard owns
(``idx:docs:{s17}``), all over the same key prefix; a search fans out to every shard
in parallel and merges the top k by distance, which equals the single-node top k
(every document lives on exactly one shard, and each shard returns its own top k).

A tenant's index (``idx:{acme}:docs`` over ``doc:{acme}:``) needs none of that: the
tag puts the index and every document on one shard, so its searches go there alone.

Managed clusters whose search module *does* coordinate (Redis Enterprise, Redis 8 in
cluster mode with the coordinator) take one index name and fan out themselves;
:func:`is_coordinated` tells the two apart from ``COMMAND INFO FT.SEARCH``: without a
coordinator the index name is the command's first key, with one FT.SEARCH is keyless.

Why this file is over 500 lines: :class:`ClusterIndex` is one object (its shard plan,
topology checks, fan-out and merge share state); the local cluster that tests and
`redvec server start --cluster` run is :mod:`redvec.local_cluster`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from redvec import keys
from redvec._resp import text
from redvec.buffer import MERGE_GROUP, MergeReport
from redvec.connection import connect_cluster
from redvec.errors import (
    DocumentError,
    IndexExistsError,
    IndexNotFoundError,
    RedisUnavailableError,
    SchemaError,
    TopologyChangedError,
)
from redvec.filters import Filter
from redvec.index import SearchIndex, list_indexes
from redvec.local_cluster import SLOTS, LocalCluster
from redvec.query import Hit, KnnQuery, RangeQuery, SearchResult
from redvec.schema import IndexSchema
from redvec.surface import VectorIndex
from redvec.tenants import tenant_of
from redvec.waiting import poll_until

__all__ = [
    "ClusterIndex",
    "LocalCluster",  # re-exported from redvec.local_cluster, where it lives
    "Shard",
    "connect_cluster",
    "is_coordinated",
    "masters",
]

PLAN_PREFIX = keys.CLUSTER_PLAN  # logical index -> JSON list of shard tags
Mode = Literal["sharded", "tenant", "coordinated"]


# -- talking to a cluster -------------------------------------------------------------------


@dataclass(frozen=True)
class Shard:
    """A master and the slot ranges it serves."""

    node_id: str
    host: str
    port: int
    slots: tuple[tuple[int, int], ...]

    def owns(self, slot: int) -> bool:
        """Whether ``slot`` is one of this master's."""
        return any(lo <= slot <= hi for lo, hi in self.slots)

    @property
    def address(self) -> str:
        """``host:port`` of the master."""
        return f"{self.host}:{self.port}"


def masters(client: RedisCluster, *, settle: float = 5.0) -> list[Shard]:
    """The masters that serve slots, as every master agrees (``CLUSTER SLOTS``).

    Right after slots move, nodes learn of it by gossip; until they agree, routing by
    any one node's view could send a shard's search to the wrong node, so this waits
    up to ``settle`` seconds for one view and raises if the nodes still disagree.
    """
    first = True

    def agreed() -> list[Shard] | None:
        nonlocal first
        if not first:
            client.nodes_manager.initialize()
        first = False
        views = {tuple(_view(client.get_redis_connection(n))) for n in client.get_primaries()}
        return list(views.pop()) if len(views) == 1 else None

    shards = poll_until(agreed, timeout=settle, interval=0.1)
    if shards is None:
        raise TopologyChangedError(
            "the cluster's masters disagree about who owns which slots "
            "(a resharding or failover in progress); retry when it has settled"
        )
    return shards


def _view(node: redis.Redis) -> list[Shard]:
    ranges: dict[str, list[tuple[int, int]]] = {}
    where: dict[str, tuple[str, int]] = {}
    for row in node.execute_command("CLUSTER", "SLOTS"):
        host, port, node_id = text(row[2][0]), int(row[2][1]), text(row[2][2])
        ranges.setdefault(node_id, []).append((int(row[0]), int(row[1])))
        where[node_id] = (host, port)
    return sorted(
        (Shard(nid, *where[nid], tuple(sorted(r))) for nid, r in ranges.items()),
        key=lambda s: s.slots[0],
    )


def is_coordinated(client: RedisCluster) -> bool:
    """True when the cluster's search module fans FT.SEARCH out itself (one index name)."""
    node = client.get_random_node()
    info = client.get_redis_connection(node).execute_command("COMMAND", "INFO", "FT.SEARCH")
    spec = info.get("FT.SEARCH") if isinstance(info, dict) else None
    if not spec:
        raise RedisUnavailableError("the cluster's nodes lack the search module (no FT.SEARCH)")
    return int(spec.get("first_key_pos", 1)) == 0


def _tag_for(shard: Shard, name: str, taken: set[str]) -> str:
    """A short hash tag whose slot this shard owns (found by trying s0, s1, ...)."""
    for i in range(SLOTS * 8):
        tag = f"s{i}"
        if tag not in taken and shard.owns(key_slot(tag.encode())):
            return tag
    raise TopologyChangedError(f"no hash tag maps to a slot of {shard.address}")


# -- one logical index across the cluster ------------------------------------------------


class ClusterIndex:
    """A search index spanning a Redis Cluster: written through the cluster client,
    searched on every shard in parallel (or on the one shard of a tenant)."""

    def __init__(
        self,
        client: RedisCluster,
        schema: IndexSchema,
        mode: Mode,
        tags: Sequence[str] = (),
        *,
        check_interval: float = 5.0,
    ) -> None:
        self.client = client
        self.schema = schema
        self.mode: Mode = mode
        self.tags = list(tags)
        self.check_interval = check_interval
        # Documents are written through the cluster client, which routes each key by slot.
        self.writer = SearchIndex(client, schema)  # type: ignore[arg-type]
        self.writer.check_indexing = False  # no index has the logical name: upsert checks shards
        self._checked = 0.0
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.tags)), thread_name_prefix="fanout"
        )
        self._shards: list[SearchIndex] = []
        try:
            self._plan()
        except TopologyChangedError:
            self._checked = float("-inf")  # searches raise it; replan() repairs it

    @property
    def name(self) -> str:
        """The logical index's name."""
        return self.schema.name

    def shard_name(self, tag: str) -> str:
        """The name of the physical index on the shard of hash tag ``tag``."""
        return f"{self.schema.name}:{{{tag}}}"

    def _node_client(self, slot: int, shards: Sequence[Shard] | None = None) -> redis.Redis:
        """A connection to the master of ``slot``: per the agreed view when given."""
        if shards is None:
            node = self.client.nodes_manager.get_node_from_slot(slot)
        else:
            owner = next(s for s in shards if s.owns(slot))
            node = self.client.get_node(host=owner.host, port=owner.port)
            if node is None:
                self.client.nodes_manager.initialize()
                node = self.client.get_node(host=owner.host, port=owner.port)
        conn = self.client.get_redis_connection(node)
        assert isinstance(conn, redis.Redis)
        return conn

    def _plan(self) -> None:
        """Map each physical index to the node that owns its slot now, and check that
        the shards cover every master exactly once (else documents would be missed or
        counted twice)."""
        self._checked = time.monotonic()
        if self.mode == "coordinated":
            self._shards = [SearchIndex(self._node_client(0), self.schema)]
            return
        if self.mode == "tenant":
            slot = key_slot(self.schema.name.encode())
            self._shards = [SearchIndex(self._node_client(slot), self.schema)]
            return
        current = masters(self.client)
        owners: dict[str, str] = {}
        for tag in self.tags:
            slot = key_slot(tag.encode())
            owner = next((s for s in current if s.owns(slot)), None)
            if owner is None:
                raise TopologyChangedError(
                    f"slot {slot} of shard index {self.shard_name(tag)} has no master"
                )
            if owner.node_id in owners.values():
                raise TopologyChangedError(
                    f"index '{self.name}': two of its shard indexes now sit on {owner.address} "
                    f"(slots moved since it was planned); run `redvec cluster replan {self.name}`"
                )
            owners[tag] = owner.node_id
        uncovered = [s.address for s in current if s.node_id not in owners.values()]
        if uncovered:
            raise TopologyChangedError(
                f"index '{self.name}': master(s) {', '.join(uncovered)} serve slots but hold no "
                f"shard of it (the cluster grew or slots moved); their documents would be "
                f"missed. Run `redvec cluster replan {self.name}`"
            )
        self._shards = [
            SearchIndex(self._node_client(key_slot(t.encode()), current), self._shard_schema(t))
            for t in self.tags
        ]
        if self.schema.write_buffer is not None:  # the buffer's fill: every shard's
            self.writer.core.buffer_counted = [
                s.core.buffered.name for s in self._shards if s.core.buffered is not None
            ]

    def _shard_schema(self, tag: str) -> IndexSchema:
        return replace(self.schema, name=self.shard_name(tag))

    def check_topology(self, *, force: bool = False) -> None:
        """Re-plan against the cluster's slot map, at most every ``check_interval`` s."""
        if force or time.monotonic() - self._checked >= self.check_interval:
            self.client.nodes_manager.initialize()
            self._plan()

    @property
    def shards(self) -> list[SearchIndex]:
        """The physical indexes, one per shard (one for a tenant or a coordinated cluster)."""
        return list(self._shards)

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(cls, client: RedisCluster, schema: IndexSchema, **kwargs: Any) -> ClusterIndex:
        """Create the index: on one shard for a tenant, on every shard otherwise."""
        mode = _mode_for(client, schema)
        if schema.write_buffer is not None and "{" not in schema.prefix:
            # Documents spread over every slot: each buffered twin is named for its
            # document's slot (wbuf:{doc:42}), so a write and a merge stay in one slot.
            schema = replace(schema, write_buffer=replace(schema.write_buffer, twins="slot"))
        if mode == "sharded":
            if not schema.store.shardable:
                raise SchemaError(
                    f"index '{schema.name}': split storage joins each hit's JSON document in a "
                    f"script on the shard that answers, but on a cluster the document may live "
                    f"on another shard; use json or hash storage, or a tenant index"
                )
            if client.exists(PLAN_PREFIX + schema.name):
                raise IndexExistsError(f"index '{schema.name}' already exists on this cluster")
            shards = masters(client)
            tags: list[str] = []
            for shard in shards:
                tags.append(_tag_for(shard, schema.name, set(tags)))
            index = cls(client, schema, mode, tags, **kwargs)
            for physical in index._shards:
                SearchIndex.create(physical.client, physical.schema)
            client.set(
                PLAN_PREFIX + schema.name, json.dumps({"schema": schema.to_dict(), "tags": tags})
            )
            return index
        index = cls(client, schema, mode, **kwargs)
        SearchIndex.create(index._shards[0].client, schema)
        return index

    @classmethod
    def open(cls, client: RedisCluster, name: str, **kwargs: Any) -> ClusterIndex:
        """The cluster index ``name``: a sharded one from its stored plan, a tenant's from its
        shard; :class:`IndexNotFoundError` when there is none."""
        raw = client.get(PLAN_PREFIX + name)
        if raw is not None:
            plan = json.loads(raw)
            return cls(
                client, IndexSchema.from_dict(plan["schema"]), "sharded", plan["tags"], **kwargs
            )
        mode: Mode = "tenant" if tenant_of(name) else "coordinated"
        if mode == "coordinated" and not is_coordinated(client):
            raise IndexNotFoundError(f"no index named '{name}' on this cluster")
        slot = 0 if mode == "coordinated" else key_slot(name.encode())
        node = client.get_redis_connection(client.nodes_manager.get_node_from_slot(slot))
        found = SearchIndex.open(node, name)
        return cls(client, found.schema, mode, **kwargs)

    def drop(self, *, delete_documents: bool = False) -> None:
        """Drop every shard's index (and with ``delete_documents`` each shard's documents)."""
        self.check_topology(force=True)
        for shard in self._shards:
            shard.drop(delete_documents=delete_documents)
        self.client.delete(PLAN_PREFIX + self.name)

    def replan(self) -> list[str]:
        """After slots moved: give every master exactly one shard index again.

        Shards whose slot still has an owner that holds no other shard are kept; a master
        without one gets a new index (it indexes the documents already on that master).
        Returns the names of the indexes created. An old shard index whose name's slot
        moved away stays on its former master, unreachable (FT.* answer MOVED there): it
        keeps indexing that master's documents, costing memory, but is never searched, so
        results stay right. It can be dropped once its name's slot is back on that master.
        Reshard without moving the slots of the shard index names (`redvec cluster info`)
        to avoid this.
        """
        if self.mode != "sharded":
            return []
        self.client.nodes_manager.initialize()
        current = masters(self.client)
        keep: dict[str, str] = {}
        for tag in self.tags:
            owner = next((s for s in current if s.owns(key_slot(tag.encode()))), None)
            if owner is not None and owner.node_id not in keep.values():
                node = self._node_client(key_slot(tag.encode()), current)
                if self.shard_name(tag) in list_indexes(node):
                    keep[tag] = owner.node_id
        created = []
        tags = list(keep)
        for shard in current:
            if shard.node_id in keep.values():
                continue
            tag = _tag_for(shard, self.name, set(self.tags) | set(tags))
            node = self._node_client(key_slot(tag.encode()), current)
            stale = [n for n in list_indexes(node) if n.startswith(f"{self.name}:{{")]
            SearchIndex.create(
                node, self._shard_schema(tag), successor_of=stale[0] if stale else None
            )
            tags.append(tag)
            created.append(self.shard_name(tag))
        self.tags = tags
        self.client.set(
            PLAN_PREFIX + self.name, json.dumps({"schema": self.schema.to_dict(), "tags": tags})
        )
        self._pool.shutdown(wait=False)
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(tags)), thread_name_prefix="fanout")
        self._plan()
        return created

    def wait_indexed(self, timeout: float = 600.0) -> None:
        """Return once every shard's index is fully indexed."""
        for shard in self._shards:
            shard.wait_indexed(timeout)

    def count(self) -> int:
        """Documents across every shard."""
        return sum(shard.count() for shard in self._shards)

    # -- documents (routed by key slot) ---------------------------------------------------

    def upsert(self, docs: Iterable[Mapping[str, Any]], *, id_field: str = "id") -> int:
        """Write documents, routed by key slot; a write RediSearch then fails to index on
        its shard is reported (the shards' indexing-failure counts are compared)."""
        before = self._failures()
        written = self.writer.upsert(docs, id_field=id_field)
        failed = self._failures() - before
        if failed > 0:
            raise DocumentError(
                f"{failed} of the {written} documents written were not indexed by their "
                f"shard (see FT.INFO 'Index Errors' of the shard indexes)"
            )
        return written

    def merge_buffer(
        self, limit: int = 500, pause: float = 0.0, group: int = MERGE_GROUP
    ) -> MergeReport:
        """Move up to ``limit`` buffered documents of each shard into its index (each shard
        merges its own documents: a twin and its document share a slot, so a node)."""
        self.check_topology()
        total = MergeReport()
        for shard in self._shards:
            report = shard.merge_buffer(limit, pause, group)
            total.moved += report.moved
            total.gone += report.gone
        return total

    def _failures(self) -> int:
        """Documents the shards' indexes (and their write buffers') failed to index."""
        total = 0
        for shard in self._shards:
            total += shard.indexing_failures()
            if shard.core.buffered is not None:
                total += shard.run(shard.core.buffered.indexing_failures())
        return total

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[dict[str, Any] | None]:
        """Documents by id, routed by key slot; None where an id is not stored."""
        return self.writer.get(ids, with_vectors=with_vectors)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id across slots; returns how many were stored."""
        return self.writer.delete(ids)  # redis-py splits a multi-key DEL across slots

    # -- searching -----------------------------------------------------------------------

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
        """KNN over the whole cluster; the same arguments and answer as
        :meth:`SearchIndex.search` on one node holding every document."""
        q = KnnQuery(
            vector, k, filter, vector_field, ef_runtime, hybrid_policy, batch_size,
            return_fields, offset,
        )  # fmt: skip
        return self.query(q)

    def query(self, q: KnnQuery) -> SearchResult:
        """Fan out (or go to the tenant's shard), merge by distance, then fetch fields.

        Without a coordinator a shard's FT.SEARCH answers ids and the computed distance
        but not document fields (it gives nil for them in cluster mode), so each shard
        is asked for ids and distances only, and the fields of the final page are read
        through the cluster client afterwards: k documents, not k per shard.
        """
        return self.search_many([q])[0]

    def search_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """Many KNN queries: one pipelined round trip per shard, in parallel, then one
        read of the pages' fields per shard; a bad query is named by its position."""
        self.check_topology()
        if self.mode == "coordinated":
            return self._shards[0].search_many(queries)
        # Each shard returns its own top offset+k; the global page is cut from the merge.
        per_shard = [replace(q, k=q.offset + q.k, offset=0, return_fields=[]) for q in queries]
        replies = self._fan_out(lambda s: s.search_many(per_shard))
        # A KNN's total is how many neighbours it found: at most offset + k, as on one node.
        return self._merged(queries, replies, lambda q, total: min(total, q.offset + q.k))

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
        """Documents within ``radius`` of ``vector`` anywhere in the cluster, nearest
        first; as :meth:`SearchIndex.range_search` on one node."""
        return self.range_query(
            RangeQuery(vector, radius, k, filter, vector_field, epsilon, return_fields, offset)
        )

    def range_query(self, q: RangeQuery) -> SearchResult:
        """A range query on every shard, merged by distance; ``total`` counts every
        match in the cluster (each document lives on exactly one shard)."""
        self.check_topology()
        if self.mode == "coordinated":
            return self._shards[0].range_query(q)
        per_shard = replace(q, k=q.offset + q.k, offset=0, return_fields=[])
        replies = self._fan_out(lambda s: [s.range_query(per_shard)])
        return self._merged([q], replies, lambda _q, total: total)[0]

    def _fan_out(
        self, ask: Callable[[SearchIndex], list[SearchResult]]
    ) -> list[list[SearchResult]]:
        """``ask`` every shard, in parallel; a moved slot is named as such."""
        try:
            if len(self._shards) == 1:
                return [ask(self._shards[0])]
            return list(self._pool.map(ask, self._shards))
        except redis.ResponseError as e:
            if str(e).startswith("MOVED"):
                raise TopologyChangedError(
                    f"index '{self.name}': a shard index's slot moved ({e}); "
                    f"run `redvec cluster replan {self.name}`"
                ) from None
            raise

    def _merged(
        self,
        queries: Sequence[KnnQuery | RangeQuery],
        replies: list[list[SearchResult]],
        total: Callable[[Any, int], int],
    ) -> list[SearchResult]:
        """Per query: the shards' hits merged by (distance, id), the page cut, its
        fields read from the shards that found them."""
        pages: list[list[tuple[Hit, int]]] = []
        for n, q in enumerate(queries):
            ranked = sorted(
                ((h, i) for i, shard in enumerate(replies) for h in shard[n].hits),
                key=lambda p: (
                    p[0].distance if p[0].distance is not None else float("inf"),
                    p[0].id,
                ),
            )
            pages.append(ranked[q.offset : q.offset + q.k])
        docs = self._documents(
            [
                (i, h.id)
                for q, page in zip(queries, pages, strict=True)
                if q.return_fields != []
                for h, i in page
            ]
        )
        out = []
        for n, (q, page) in enumerate(zip(queries, pages, strict=True)):
            hits = [h for h, _ in page]
            if q.return_fields != []:
                names = (
                    [f.name for f in self.schema.fields if f.kind != "vector"]
                    if q.return_fields is None
                    else q.return_fields
                )
                hits = []
                for h, i in page:
                    doc = docs.get((i, h.id))
                    fields = {f: doc[f] for f in names if f in doc} if doc else {}
                    hits.append(Hit(h.id, h.distance, h.score, fields, h.metric))
            # Each shard plans from its own counts; the first shard's plan stands for them.
            plan = replies[0][n].plan if replies else None
            out.append(SearchResult(total(q, sum(shard[n].total for shard in replies)), hits, plan))
        return out

    def _documents(self, wanted: list[tuple[int, str]]) -> dict[tuple[int, str], Any]:
        """Read documents from the shards that found them (a document lives on the
        master whose index returned it), one plain pipeline per shard, in parallel;
        redis-py's cluster pipeline cost 4x more per search here."""
        by_shard: dict[int, list[str]] = {}
        for i, doc_id in dict.fromkeys(wanted):
            by_shard.setdefault(i, []).append(doc_id)
        if not by_shard:
            return {}
        fetched = dict(
            zip(
                by_shard,
                self._pool.map(lambda i: self._shards[i].get(by_shard[i]), by_shard),
                strict=True,
            )
        )
        return {
            (i, doc_id): doc
            for i, ids in by_shard.items()
            for doc_id, doc in zip(ids, fetched[i], strict=True)
        }

    def close(self) -> None:
        """Stop the fan-out threads."""
        self._pool.shutdown(wait=False)


def _mode_for(client: RedisCluster, schema: IndexSchema) -> Mode:
    tag = tenant_of(schema.name)
    if tag is not None:
        for p in (schema.prefix, schema.document_prefix):
            if p and tenant_of(p) != tag:
                raise SchemaError(
                    f"index '{schema.name}' carries the hash tag '{tag}' but its prefix '{p}' "
                    f"does not: its documents would live on other shards than the index. "
                    f"Use a prefix like 'doc:{{{tag}}}:'"
                )
        return "tenant"
    return "coordinated" if is_coordinated(client) else "sharded"


if TYPE_CHECKING:  # mypy holds the class to the shared surface

    def _conforms(index: ClusterIndex) -> VectorIndex:
        return index
