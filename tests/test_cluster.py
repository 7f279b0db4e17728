"""Redis Cluster against three real embedded masters: fan-out equals single-node search,
a tenant's query stays on one shard, and moved slots are detected and re-planned."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from redvec.cluster import ClusterIndex, LocalCluster, connect_cluster, is_coordinated, masters
from redvec.errors import BufferFullError, SchemaError, TopologyChangedError
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

from .conftest import REDVEC

DIMS = 16
N = 600


def schema(name: str = "idx:docs", prefix: str = "doc:", storage: str = "hash") -> IndexSchema:
    return IndexSchema(
        name,
        prefix,
        (
            TextField("title"),
            TagField("cat"),
            NumericField("price"),
            VectorField("v", dims=DIMS, algorithm="HNSW", ef_runtime=400),
        ),
        storage=storage,  # type: ignore[arg-type]
    )


def docs(n: int = N, seed: int = 0) -> tuple[list[dict[str, object]], np.ndarray]:
    vectors = np.random.default_rng(seed).standard_normal((n, DIMS)).astype(np.float32)
    return [
        {
            "id": str(i),
            "title": f"item {i}",
            "cat": "abc"[i % 3],
            "price": i % 40,
            "v": vectors[i],
        }
        for i in range(n)
    ], vectors


@pytest.fixture()
def rc(cluster: LocalCluster) -> Iterator[RedisCluster]:
    client = cluster.client()
    client.flushall()  # every primary; FLUSHALL drops their indexes too
    yield client
    client.close()


def search_calls(node: redis.Redis) -> int:
    stats = node.info("commandstats")
    return int(stats.get("cmdstat_FT.SEARCH", {}).get("calls", 0))


def test_the_local_cluster_is_a_real_cluster(cluster: LocalCluster, rc: RedisCluster) -> None:
    shards = masters(rc)
    assert len(shards) == 3
    assert sum(hi - lo + 1 for s in shards for lo, hi in s.slots) == 16384
    assert is_coordinated(rc) is False  # this RediSearch has no coordinator
    if shutil.which("redis-cli"):
        check = subprocess.run(
            ["redis-cli", "--cluster", "check", f"127.0.0.1:{cluster.nodes[0].port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stdout
        assert "All 16384 slots covered" in check.stdout


@pytest.mark.parametrize("storage", ["hash", "json"])
def test_fan_out_equals_single_node_search(rc: RedisCluster, r: redis.Redis, storage: str) -> None:
    data, vectors = docs()
    single = SearchIndex.create(r, schema(storage=storage))
    single.upsert(data)
    single.wait_indexed()
    spread = ClusterIndex.create(rc, schema(storage=storage))
    spread.upsert(data)
    spread.wait_indexed()
    counts = [s.count() for s in spread.shards]
    assert sum(counts) == N and min(counts) > N / 6  # every shard holds a share
    queries = np.random.default_rng(1).standard_normal((20, DIMS)).astype(np.float32)
    for q in queries:
        for kwargs in ({}, {"filter": "cat:b price<=20"}, {"offset": 5}):
            want = single.query(KnnQuery(q, 10, **kwargs))  # type: ignore[arg-type]
            got = spread.query(KnnQuery(q, 10, **kwargs))  # type: ignore[arg-type]
            assert got.ids == want.ids
            assert got.total == want.total
            assert [h.distance for h in got.hits] == pytest.approx(
                [h.distance for h in want.hits], abs=1e-6
            )
            assert [h.fields["title"] for h in got.hits] == [f"item {i}" for i in got.ids]
    rows, _ = exact_knn(vectors, queries, 10, "COSINE")
    assert [spread.search(q, 10).ids for q in queries] == [[str(i) for i in r] for r in rows]


def test_a_tenants_search_touches_one_shard_only(cluster: LocalCluster, rc: RedisCluster) -> None:
    tenant = ClusterIndex.create(rc, schema("idx:{acme}:docs", "doc:{acme}:"))
    data, _ = docs(100)
    tenant.upsert(data)
    tenant.wait_indexed()
    nodes = [n.client() for n in cluster.nodes]
    owner = [i for i, s in enumerate(masters(rc)) if s.owns(key_slot(b"acme"))]
    before = [search_calls(n) for n in nodes]
    for q in np.random.default_rng(2).standard_normal((10, DIMS)):
        assert len(tenant.search(q, 5).hits) == 5
    delta = [search_calls(n) - b for n, b in zip(nodes, before, strict=True)]
    port_of_owner = masters(rc)[owner[0]].port
    assert delta == [10 if n.port == port_of_owner else 0 for n in cluster.nodes]
    # A sharded index's search reaches every shard once.
    spread = ClusterIndex.create(rc, schema("idx:items", "item:"))
    spread.upsert(data)
    spread.wait_indexed()
    before = [search_calls(n) for n in nodes]
    spread.search(np.ones(DIMS), 5)
    assert [search_calls(n) - b for n, b in zip(nodes, before, strict=True)] == [1, 1, 1]


def test_a_tagged_index_over_an_untagged_prefix_is_refused(rc: RedisCluster) -> None:
    with pytest.raises(SchemaError, match="its prefix 'doc:' does not"):
        ClusterIndex.create(rc, schema("idx:{acme}:docs", "doc:"))
    with pytest.raises(SchemaError, match="split storage"):
        ClusterIndex.create(rc, schema("idx:s", "vec:", storage="split"))


def move_slots(rc: RedisCluster, slots: list[int], src: redis.Redis, dst: redis.Redis) -> None:
    """What `redis-cli --cluster reshard` does: IMPORTING/MIGRATING, MIGRATE keys, SETSLOT NODE."""
    src_id = src.execute_command("CLUSTER", "MYID").decode()
    dst_id = dst.execute_command("CLUSTER", "MYID").decode()
    host, port = (
        dst.connection_pool.connection_kwargs["host"],
        dst.connection_pool.connection_kwargs["port"],
    )
    for slot in slots:
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
            src.execute_command("MIGRATE", host, port, "", 0, 5000, "KEYS", *keys)
        for node in (dst, src):
            node.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    rc.nodes_manager.initialize()


def test_moved_slots_are_detected_and_replanned(cluster: LocalCluster, rc: RedisCluster) -> None:
    data, vectors = docs()
    spread = ClusterIndex.create(rc, schema(), check_interval=0)
    spread.upsert(data)
    spread.wait_indexed()
    by_port = {n.port: n.client() for n in cluster.nodes}
    shards = masters(rc)
    src, dst = by_port[shards[0].port], by_port[shards[1].port]
    # Move the slot of shard 0's index name, and 200 slots full of documents, to shard 1.
    tag_slot = next(
        key_slot(t.encode()) for t in spread.tags if shards[0].owns(key_slot(t.encode()))
    )
    lo = shards[0].slots[0][0]
    move_slots(rc, sorted({tag_slot, *range(lo, lo + 200)}), src, dst)
    with pytest.raises(TopologyChangedError, match="replan"):
        spread.search(np.ones(DIMS), 5)
    created = spread.replan()
    assert len(created) == 1
    spread.wait_indexed()
    assert spread.count() == N  # the moved documents are indexed where they now live
    queries = np.random.default_rng(3).standard_normal((10, DIMS)).astype(np.float32)
    rows, _ = exact_knn(vectors, queries, 10, "COSINE")
    assert [spread.search(q, 10).ids for q in queries] == [[str(i) for i in r] for r in rows]
    # Give the slots back so the module's other tests see the even split again.
    move_slots(rc, sorted({tag_slot, *range(lo, lo + 200)}), dst, src)


def test_cluster_verbs(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "REDIS_URL"}
    home = tmp_path / "c"

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*REDVEC, *args], env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    started = run("server", "start", "--cluster", "3", "--dir", str(home))
    assert started.returncode == 0, started.stderr
    url = started.stdout.split("REDIS_URL=")[1].split()[0]
    try:
        status = run("server", "status", "--dir", str(home))
        assert status.stdout.count("master 127.0.0.1:") == 3, status.stdout
        schema_file = tmp_path / "s.json"
        schema_file.write_text(json.dumps(schema().to_dict()))
        created = run("cluster", "create-index", str(schema_file), REDIS_URL=url)
        assert created.returncode == 0, created.stderr
        assert "created index 'idx:docs' (sharded)" in created.stdout
        data, vectors = docs(90)
        ClusterIndex.open(connect_cluster(url), "idx:docs").upsert(data)
        np.save(tmp_path / "q.npy", vectors[7])
        found = run(
            "cluster", "search", "-i", "idx:docs", "--vector-file", str(tmp_path / "q.npy"),
            "-k", "3", "--json", REDIS_URL=url,
        )  # fmt: skip
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)[0]["id"] == "7"
        info = json.loads(run("cluster", "info", "idx:docs", "--json", REDIS_URL=url).stdout)
        assert info["mode"] == "sharded" and sum(s["documents"] for s in info["shards"]) == 90
        replan = run("cluster", "replan", "idx:docs", REDIS_URL=url)
        assert "plan unchanged" in replan.stdout
    finally:
        stopped = run("server", "stop", "--dir", str(home))
    assert stopped.returncode == 0 and "cluster stopped (3 masters)" in stopped.stdout


def test_documents_are_read_and_deleted_across_slots(rc: RedisCluster) -> None:
    spread = ClusterIndex.create(rc, schema())
    data, _ = docs(30)
    spread.upsert(data)
    spread.wait_indexed()
    assert [d["id"] if d else None for d in spread.get(["3", "17", "nope"])] == ["3", "17", None]
    assert spread.delete([str(i) for i in range(10)] + ["nope"]) == 10
    spread.wait_indexed()
    assert spread.count() == 20


def test_a_tenants_write_buffer_on_a_cluster_keeps_each_document_once_and_searchable(
    rc: RedisCluster,
) -> None:
    """A buffered write is one MULTI/EXEC; a cluster pipeline routed the MULTI to one node
    and the EXEC to another ("EXEC without MULTI"), writing some documents unbuffered and
    leaving a connection inside a transaction."""
    from redvec.merger import Merger
    from redvec.schema import WriteBuffer

    buffered = replace(schema("idx:{acme}:docs", "doc:{acme}:"), write_buffer=WriteBuffer(100))
    tenant = ClusterIndex.create(rc, buffered)
    data, vectors = docs(40)
    assert tenant.upsert(data) == 40
    (shard,) = tenant.shards
    assert shard.client.dbsize() >= 40 and len(list(shard.client.scan_iter("wbuf:*"))) == 40
    assert tenant.count() == 40
    assert tenant.search(vectors[7], 3).ids[0] == "7"
    assert tenant.search(vectors[7], 3, filter="cat:b").ids[0] == "7"
    Merger(shard, batch=15).once()
    changed = {**data[3], "title": "renamed"}
    assert tenant.upsert([changed]) == 1
    assert tenant.get(["3"])[0]["title"] == "renamed"  # type: ignore[index]
    assert tenant.search(vectors[3], 1).hits[0].fields["title"] == "renamed"
    shard.update_vectors(["20"], [vectors[21]])
    assert sorted(tenant.search(vectors[21], 2).ids) == ["20", "21"]
    assert tenant.delete(["4", "30"]) == 2
    Merger(shard).drain()
    tenant.wait_indexed()
    assert tenant.count() == 38 and not list(shard.client.scan_iter("wbuf:*"))
    assert is_coordinated(rc) is False  # every connection left outside a transaction


def test_a_sharded_index_with_a_write_buffer_searches_merges_and_counts_like_one_node(
    rc: RedisCluster, r: redis.Redis, cluster: LocalCluster, cli_env: dict[str, str]
) -> None:
    """A write buffer on an index spread over every shard: each buffered twin is named for
    its document's slot (wbuf:{doc:42}), so a write (one transaction) and a merge (one
    RENAME) stay in one slot, and each shard's search asks its own buffer."""
    from redvec.schema import WriteBuffer

    buffered = replace(schema(), write_buffer=WriteBuffer(max_docs=N, wait_seconds=0))
    single = SearchIndex.create(r, schema())
    spread = ClusterIndex.create(rc, buffered)
    assert spread.schema.write_buffer is not None and spread.schema.write_buffer.twins == "slot"
    data, _ = docs()
    single.upsert(data)
    single.wait_indexed()
    assert spread.upsert(data) == N
    twins = [k.decode() for k in rc.scan_iter(match="wbuf:*", target_nodes=rc.ALL_NODES)]
    assert len(twins) == N
    assert all(key_slot(k.encode()) == key_slot(k[6:-1].encode()) for k in twins)
    assert spread.count() == N and sum(s.count() for s in spread.shards) == N
    again = ClusterIndex.open(rc, spread.name)  # the plan keeps the slot-named twins
    assert again.schema == spread.schema
    queries = np.random.default_rng(1).standard_normal((10, DIMS)).astype(np.float32)

    def same_as_one_node() -> None:
        for q in queries:
            for kwargs in ({}, {"filter": "cat:b price<=20"}):
                want = single.query(KnnQuery(q, 10, **kwargs))  # type: ignore[arg-type]
                got = again.query(KnnQuery(q, 10, **kwargs))  # type: ignore[arg-type]
                assert got.ids == want.ids
                assert [h.fields["title"] for h in got.hits] == [f"item {i}" for i in got.ids]

    same_as_one_node()  # every document buffered
    with pytest.raises(BufferFullError, match="write buffer holds 600 of 600"):
        spread.upsert([{**data[0], "id": "extra"}])
    assert spread.merge_buffer(limit=100).moved == 300  # 100 a shard
    same_as_one_node()  # some merged, some buffered
    changed = {**data[5], "title": "renamed"}
    spread.upsert([changed])
    single.upsert([changed])
    assert spread.get(["5"])[0]["title"] == "renamed"  # type: ignore[index]
    assert spread.delete(["6", "7", "nope"]) == 2 and single.delete(["6", "7"]) == 2
    merged = subprocess.run(
        [*REDVEC, "merge", "--cluster", "-i", spread.name, "--once", "--url", cluster.url],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    assert f"documents into '{spread.name}'" in merged.stdout  # 298-301: which were buffered
    spread.wait_indexed()
    single.wait_indexed()
    assert not list(rc.scan_iter(match="wbuf:*", target_nodes=rc.ALL_NODES))
    assert spread.count() == N - 2
    same_as_one_node()  # every document merged


def test_a_batch_of_buffered_writes_on_a_cluster_is_one_round_trip_a_node(
    rc: RedisCluster,
) -> None:
    """Each buffered write went as its own cluster transaction, one round trip a document
    (4,100 documents/s against 11,900 unbuffered in one probe): a batch now goes as one
    EVAL a document in one cluster pipeline, atomic like the transaction. (A refusal is
    still named: the full-cluster test below.)"""
    from redvec.schema import WriteBuffer

    buffered = replace(schema(storage="json"), write_buffer=WriteBuffer(max_docs=N))
    spread = ClusterIndex.create(rc, buffered)
    rc.set("wbuf:{doc:7}", "left over")  # the twin's name is the buffer's: replaced
    data, vectors = docs(50)
    calls = {n.name: n.redis_connection.info("commandstats") for n in rc.get_primaries()}
    assert spread.upsert(data) == 50
    after = {n.name: n.redis_connection.info("commandstats") for n in rc.get_primaries()}

    def sent(command: str) -> int:
        return sum(
            after[n].get(f"cmdstat_{command}", {}).get("calls", 0)
            - calls[n].get(f"cmdstat_{command}", {}).get("calls", 0)
            for n in after
        )

    assert (sent("eval"), sent("exec")) == (50, 0)  # one script a document, no MULTI/EXEC
    assert spread.count() == 50 and spread.search(vectors[8], 1).ids == ["8"]
    assert spread.get(["7"])[0]["title"] == "item 7"  # type: ignore[index]


def test_a_buffered_update_on_a_full_cluster_is_refused_whole_and_keeps_the_merged_version(
    rc: RedisCluster,
) -> None:
    """A buffered write deletes the merged key and writes its twin. A script without a
    shebang is checked against maxmemory command by command, so its DEL would run and a
    write after it could be refused, the merged document gone (here it was not refused at
    all: the DEL freed the memory). With the shebang the whole script is refused before
    any of it runs, as EXEC aborts a transaction on one server."""
    from redvec.core import WriteError
    from redvec.merger import Merger
    from redvec.schema import WriteBuffer

    buffered = replace(schema(), write_buffer=WriteBuffer(max_docs=N))
    spread = ClusterIndex.create(rc, buffered)
    data, vectors = docs(20)
    spread.upsert(data)
    Merger(spread).drain()
    nodes = [n.redis_connection for n in rc.get_primaries()]
    try:
        for node in nodes:
            node.config_set("maxmemory", "1")
        with pytest.raises(WriteError) as refused:
            spread.upsert([{**data[3], "title": "lost?"}])
        assert "maxmemory" in refused.value.report.failed["3"]
    finally:
        for node in nodes:
            node.config_set("maxmemory", "0")
    got = spread.get(["3"])[0]
    assert got is not None and got["title"] == "item 3"  # the merged version, untouched
    assert spread.search(vectors[3], 1).ids == ["3"]
