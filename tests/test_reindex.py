"""Zero-downtime reindex behind an alias: searches never pause, fail or come back empty."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import redis

from redvec.errors import IndexNotFoundError, SchemaError
from redvec.filters import Tag
from redvec.index import SearchIndex
from redvec.reindex import alias_target, reindex, set_alias
from redvec.schema import IndexSchema, TagField, TextField, VectorField

DIM = 16


def v1() -> IndexSchema:
    return IndexSchema(
        "products-v1", "product:", (TextField("name"), VectorField("vec", dims=DIM, m=8))
    )


def v2() -> IndexSchema:
    return IndexSchema(
        "products-v2",
        "product:",
        (
            TextField("name"),
            TagField("category"),  # new: filterable after the switch
            VectorField("vec", dims=DIM, m=16, ef_construction=200),
        ),
    )


def test_searches_through_the_alias_never_fail_or_come_back_empty(r: redis.Redis) -> None:
    rng = np.random.default_rng(0)
    old = SearchIndex.create(r, v1())
    old.upsert(
        {"id": i, "name": f"item {i}", "category": ["a", "b"][i % 2], "vec": rng.normal(size=DIM)}
        for i in range(3000)
    )
    old.wait_indexed()
    set_alias(r, "products", "products-v1")
    assert alias_target(r, "products") == "products-v1"

    through_alias = SearchIndex.open(r, "products")
    errors: list[str] = []
    empty = 0
    searches = 0
    stop = threading.Event()

    def search() -> None:
        nonlocal empty, searches
        q = np.random.default_rng(1)
        while not stop.is_set():
            try:
                hits = through_alias.search(q.normal(size=DIM), 5).hits
                searches += 1
                empty += not hits
            except Exception as e:  # any error at all fails the test
                errors.append(repr(e))

    thread = threading.Thread(target=search)
    thread.start()
    time.sleep(0.3)
    result = reindex(r, "products", v2())
    time.sleep(0.3)
    stop.set()
    thread.join()

    assert errors == [] and empty == 0 and searches > 50
    assert (result.old_index, result.new_index, result.documents) == (
        "products-v1",
        "products-v2",
        3000,
    )
    assert alias_target(r, "products") == "products-v2"
    assert "products-v1" not in [i.decode() for i in r.execute_command("FT._LIST")]
    assert r.exists("product:0")  # documents kept, nothing copied
    fresh = SearchIndex.open(r, "products")
    hits = fresh.search(np.ones(DIM), 10, filter=Tag("category") == "b").hits
    assert hits and all(int(h.id) % 2 == 1 for h in hits)


def test_reindex_refuses_what_it_cannot_do_in_place(r: redis.Redis) -> None:
    SearchIndex.create(r, v1())
    with pytest.raises(IndexNotFoundError, match="no alias named 'products'"):
        reindex(r, "products", v2())
    set_alias(r, "products", "products-v1")
    moved = IndexSchema("products-v2", "item:", v2().fields)
    with pytest.raises(SchemaError, match="changes storage or prefix"):
        reindex(r, "products", moved)
    wider = IndexSchema("products-v2", "product:", (VectorField("vec", dims=DIM * 2),))
    with pytest.raises(SchemaError, match="changes from 16-d FLOAT32 to 32-d FLOAT32"):
        reindex(r, "products", wider)
    with pytest.raises(SchemaError, match="needs a name of its own"):
        reindex(r, "products", v1())
    assert alias_target(r, "products") == "products-v1"  # untouched by the refusals


def test_cli_alias_and_reindex(r: redis.Redis, cli_env: dict[str, str], tmp_path: object) -> None:
    import json
    import subprocess
    from pathlib import Path

    from .conftest import REDVEC

    SearchIndex.create(r, v1()).upsert(
        [{"id": i, "name": f"n{i}", "vec": [float(i + 1)] * DIM} for i in range(20)]
    )
    new_schema = Path(str(tmp_path)) / "v2.json"
    new_schema.write_text(json.dumps(v2().to_dict()))
    run = lambda *a: subprocess.run(  # noqa: E731
        [*REDVEC, *a], env=cli_env, capture_output=True, text=True, timeout=120
    )
    assert run("alias", "set", "products", "products-v1").stdout.strip() == (
        "alias 'products' -> 'products-v1'"
    )
    done = run("reindex", "products", "--schema", str(new_schema))
    assert done.returncode == 0, done.stderr
    assert "alias 'products': 'products-v1' -> 'products-v2' (20 documents" in done.stdout
    bad = run("alias", "set", "products-v2", "products-v2")
    assert bad.returncode == 1
    assert "'products-v2' is an index name; an alias needs a name of its own" in bad.stderr


def test_a_burst_of_writes_during_the_reindex_scan_is_rebuilt_away(r: redis.Redis) -> None:
    """Writes during the new index's scan indexed documents twice (deleted nodes in the
    graph, lower recall); reindex measures the build and rebuilds a spoiled one."""
    from redvec._resp import pairs
    from redvec.reindex import scan_duplicates

    rng = np.random.default_rng(0)
    old = SearchIndex.create(r, v1())
    old.upsert(
        {"id": i, "name": f"item {i}", "category": "a", "vec": rng.normal(size=DIM)}
        for i in range(3000)
    )
    pipe = r.pipeline(transaction=False)
    for i in range(200_000):  # a full database: the scan takes a while
        pipe.set(f"unrelated:{i}", "x")
    pipe.execute()
    set_alias(r, "products", "products-v1")
    writes = 0

    def first_scan_running() -> bool:
        if b"products-v2" not in r.execute_command("FT._LIST"):
            return True  # not created yet
        return bool(int(pairs(r.execute_command("FT.INFO", "products-v2"))["indexing"]))

    def writer() -> None:  # a burst that lasts as long as the first build's scan
        nonlocal writes
        w = np.random.default_rng(1)
        while first_scan_running():
            i = int(w.integers(3000))
            old.upsert([{"id": i, "name": f"item {i}", "category": "a", "vec": w.normal(size=DIM)}])
            writes += 1

    thread = threading.Thread(target=writer)
    thread.start()
    result = reindex(r, "products", v2(), drop_old=False)
    thread.join()
    print("reindex under a burst:", result, "writes", writes)
    assert writes > 0
    assert result.scan_duplicates == 0 == scan_duplicates(r, "products-v2")
    assert result.builds in (1, 2)  # 2 when the burst reached the first scan
    assert SearchIndex.open(r, "products-v2").count() == 3000
