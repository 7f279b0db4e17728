"""Tenants against the real server: tagged names, listing, and dropping with all their keys."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from redvec.errors import TenantExistsError, TenantNotFoundError, ValidationError
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TagField, VectorField
from redvec.tenants import (
    create_tenant,
    create_tenant_index,
    drop_tenant,
    list_tenants,
    tenant_of,
    tenant_schema,
)

SCHEMA = IndexSchema("docs", "doc:", (TagField("cat"), VectorField("v", dims=4)))


def fill(idx: SearchIndex, n: int, offset: float = 0.0) -> None:
    idx.upsert([{"id": i, "cat": "a", "v": np.arange(4) + i + offset + 1} for i in range(n)])
    idx.wait_indexed()


def test_tenant_schema_tags_the_index_and_every_prefix() -> None:
    scoped = tenant_schema("acme", SCHEMA)
    assert (scoped.name, scoped.prefix) == ("idx:{acme}:docs", "doc:{acme}:")
    split = IndexSchema("s", "vec:", SCHEMA.fields, storage="split", document_prefix="meta:")
    assert tenant_schema("acme", split).document_prefix == "meta:{acme}:"
    assert {tenant_of(scoped.name), tenant_of(scoped.prefix)} == {"acme"}
    with pytest.raises(ValidationError, match="already carries a hash tag"):
        tenant_schema("acme", scoped)
    with pytest.raises(ValidationError, match="tenant name 'a b'"):
        tenant_schema("a b", SCHEMA)


def test_tenants_are_listed_with_their_indexes_and_documents(r: redis.Redis) -> None:
    create_tenant(r, "acme")
    create_tenant(r, "globex")
    fill(create_tenant_index(r, "acme", SCHEMA), 7)
    fill(create_tenant_index(r, "globex", SCHEMA), 3)
    listed = {t.name: (t.indexes, t.documents) for t in list_tenants(r)}
    assert listed == {"acme": (["idx:{acme}:docs"], 7), "globex": (["idx:{globex}:docs"], 3)}
    with pytest.raises(TenantExistsError, match="'acme' already exists"):
        create_tenant(r, "acme")
    with pytest.raises(TenantNotFoundError, match="create it first"):
        create_tenant_index(r, "initech", SCHEMA)


def test_a_tenants_search_never_sees_another_tenants_documents(r: redis.Redis) -> None:
    for t in ("acme", "globex"):
        create_tenant(r, t)
    acme = create_tenant_index(r, "acme", SCHEMA)
    globex = create_tenant_index(r, "globex", SCHEMA)
    fill(acme, 5)
    fill(globex, 5, offset=0.01)  # nearly the same vectors: a leak would show up first
    hits = acme.search([1, 2, 3, 4], 10).hits
    assert sorted(h.id for h in hits) == ["0", "1", "2", "3", "4"]  # 5 of the 10 stored
    assert hits[0].distance == pytest.approx(0.0, abs=1e-6)


def test_dropping_a_tenant_removes_its_indexes_and_keys_and_nothing_else(r: redis.Redis) -> None:
    # 'acme-eu' contains 'acme': a glob on the name alone would take its keys too.
    for t in ("acme", "acme-eu"):
        create_tenant(r, t)
        fill(create_tenant_index(r, t, SCHEMA), 4)
    r.xadd("stream:{acme}:ingest", {"x": "1"})  # a key outside any index
    r.set("plain", "untouched")
    indexes, keys = drop_tenant(r, "acme")
    assert (indexes, keys) == (["idx:{acme}:docs"], 6)  # 4 documents, the stream, the schema
    assert [t.name for t in list_tenants(r)] == ["acme-eu"]
    assert r.exists("stream:{acme}:ingest", "doc:{acme}:0") == 0
    assert r.get("plain") == b"untouched"
    assert SearchIndex.open(r, "idx:{acme-eu}:docs").count() == 4
    assert [i.decode() for i in r.execute_command("FT._LIST")] == ["idx:{acme-eu}:docs"]
    assert r.exists("redvec:schema:idx:{acme}:docs") == 0
    with pytest.raises(TenantNotFoundError, match="no tenant named 'acme'"):
        drop_tenant(r, "acme")


def test_a_tenants_buffered_documents_are_searchable_counted_and_dropped_with_it(
    r: redis.Redis,
) -> None:
    """A tenant's index with a write buffer: its buffer keeps the tenant's tag (same shard),
    the buffered documents count as the tenant's, and dropping the tenant leaves none."""
    from redvec.merger import Merger
    from redvec.schema import WriteBuffer

    buffered = IndexSchema(
        "docs", "doc:", (TagField("cat"), VectorField("v", dims=4)),
        write_buffer=WriteBuffer(max_docs=100),
    )  # fmt: skip
    for t in ("acme", "globex"):
        create_tenant(r, t)
    acme = create_tenant_index(r, "acme", buffered)
    globex = create_tenant_index(r, "globex", buffered)
    fill(acme, 6)
    fill(globex, 6, offset=0.01)
    assert acme.schema.buffer is not None and tenant_of(acme.schema.buffer.prefix) == "acme"
    assert tenant_of(acme.schema.buffer.name) == "acme"
    assert sorted(acme.search([1, 2, 3, 4], 10).ids) == [str(i) for i in range(6)]
    Merger(acme, batch=3).once()  # three merged, three still buffered
    listed = {t.name: (t.indexes, t.documents) for t in list_tenants(r)}
    assert listed == {"acme": (["idx:{acme}:docs"], 6), "globex": (["idx:{globex}:docs"], 6)}
    assert sorted(acme.search([1, 2, 3, 4], 10).ids) == [str(i) for i in range(6)]
    assert drop_tenant(r, "acme")[0] == ["idx:{acme}:docs"]
    assert [k for k in r.scan_iter(match="*{acme}*")] == []
    assert [i.decode() for i in r.execute_command("FT._LIST")] == sorted(
        ["idx:{globex}:docs", "idx:{globex}:docs.wbuf"]
    )
    assert sorted(globex.search([1, 2, 3, 4], 10).ids) == [str(i) for i in range(6)]
