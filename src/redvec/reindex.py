"""Zero-downtime reindexing behind an alias.

Applications search an alias (``FT.ALIASADD products products-v1``), never an index
name. ``reindex`` builds the new index beside the old one, waits until it is fully
indexed, moves the alias with ``FT.ALIASUPDATE`` (one atomic command), and only then
drops the old index. An index is a view over key prefixes, so when the storage mode and
prefix stay the same the new index reads the very same documents and nothing is copied;
searches running through the alias see the old index until the switch and the new one
after, never an empty or half-built one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from redvec import keys
from redvec._resp import pairs, text
from redvec.errors import ConfigError, IndexNotFoundError, SchemaError
from redvec.index import SearchIndex, list_indexes
from redvec.schema import IndexSchema

__all__ = [
    "ALIASES_KEY",
    "ReindexResult",
    "alias_target",
    "reindex",
    "scan_duplicates",
    "set_alias",
]

ALIASES_KEY = keys.ALIASES  # the aliases redvec set: RediSearch 2.10 cannot list them


@dataclass(frozen=True)
class ReindexResult:
    """What a reindex did: the alias, old and new index, documents, seconds, how many builds
    it took, and the documents indexed twice in the kept build (0: a clean graph)."""

    alias: str
    old_index: str
    new_index: str
    documents: int
    seconds: float
    builds: int = 1  # how many times the new index was built (a rebuild after live writes)
    scan_duplicates: int = 0  # documents indexed twice in the kept build (0: a clean graph)


def alias_target(client: redis.Redis, alias: str) -> str | None:
    """The index ``alias`` points to, or None when no alias of that name exists."""
    if alias in list_indexes(client):
        return None  # an index name, not an alias
    try:
        info = pairs(client.execute_command("FT.INFO", alias))
    except redis.ResponseError:
        return None
    return str(text(info["index_name"]))


def set_alias(client: redis.Redis, alias: str, index: str) -> None:
    """Point ``alias`` at ``index`` (created or moved)."""
    if alias in list_indexes(client):
        raise ConfigError(f"'{alias}' is an index name; an alias needs a name of its own")
    if index not in list_indexes(client):
        raise IndexNotFoundError(f"no index named '{index}'")
    client.execute_command("FT.ALIASUPDATE", alias, index)
    client.sadd(ALIASES_KEY, alias)


def reindex(
    client: redis.Redis,
    alias: str,
    schema: IndexSchema,
    *,
    timeout: float = 3600.0,
    drop_old: bool = True,
    max_builds: int = 3,
    tolerance: float = 0.001,
) -> ReindexResult:
    """Build ``schema`` (its name is the new index's) over the alias's documents, switch
    the alias to it once fully indexed, then drop the old index (keeping documents)."""
    start = time.monotonic()
    old_name = alias_target(client, alias)
    if old_name is None:
        raise IndexNotFoundError(
            f"no alias named '{alias}': create one with `redvec alias set {alias} INDEX`"
        )
    if schema.name in (old_name, alias):
        raise SchemaError(
            f"the new index needs a name of its own (not '{schema.name}'), e.g. '{alias}-v2'"
        )
    old = SearchIndex.open(client, old_name)
    if (schema.storage, schema.prefix, schema.document_prefix) != (
        old.schema.storage,
        old.schema.prefix,
        old.schema.document_prefix,
    ):
        raise SchemaError(
            f"the new schema changes storage or prefix ({old.schema.storage} "
            f"'{old.schema.prefix}' -> {schema.storage} '{schema.prefix}'): a reindex reuses "
            f"the documents in place, so both must stay; copy the documents instead"
        )
    old_vf, new_vf = old.schema.vector_fields, schema.vector_fields
    for vf in new_vf:
        before = next((v for v in old_vf if v.name == vf.name), None)
        if before is not None and (before.dims, before.datatype) != (vf.dims, vf.datatype):
            raise SchemaError(
                f"vector field '{vf.name}' changes from {before.dims}-d {before.datatype} to "
                f"{vf.dims}-d {vf.datatype}: the stored vectors would not be indexed; "
                f"re-embed them (`redvec reembed`) into a new prefix instead"
            )
    # The new index scans the documents in place while the application keeps writing
    # through the old one. A document written during the scan is indexed twice and leaves
    # a deleted node in the new HNSW graph (recall drops: docs/benchmarks.md), so the
    # build is measured (FT.INFO max_doc_id against num_docs) and redone while writes
    # spoiled it, up to ``max_builds`` times.
    builds = 0
    while True:
        builds += 1
        new = SearchIndex.create(client, schema, successor_of=old_name, scan_timeout=timeout)
        new.wait_indexed(timeout=timeout)
        duplicates = scan_duplicates(client, schema.name)
        if duplicates <= tolerance * max(new.count(), 1) or builds >= max_builds:
            break
        client.execute_command("FT.DROPINDEX", schema.name)  # the documents stay
    # The new index inherits the embedding provider; a tuned EF_RUNTIME only when the
    # vector fields are unchanged (a new M or EF_CONSTRUCTION needs tuning again).
    settings = {text(k): v for k, v in client.hgetall(keys.SETTINGS + old_name).items()}
    if tuple(old_vf) != tuple(new_vf):
        settings = {k: v for k, v in settings.items() if not k.startswith("ef_runtime")}
    if settings:
        client.hset(keys.SETTINGS + schema.name, mapping=settings)
    client.execute_command("FT.ALIASUPDATE", alias, schema.name)
    if drop_old:
        client.execute_command("FT.DROPINDEX", old_name)
        client.delete(keys.SCHEMA + old_name, keys.SETTINGS + old_name)
    return ReindexResult(
        alias, old_name, schema.name, new.count(), time.monotonic() - start, builds, duplicates
    )


def scan_duplicates(client: redis.Redis, index: str) -> int:
    """Documents the index holds more internal ids for than documents: each one was
    indexed again (written during the scan, or updated since) and left a deleted node in
    the HNSW graph. 0 for a graph built clean."""
    info = pairs(client.execute_command("FT.INFO", index))
    return max(int(info.get("max_doc_id", 0)) - int(info.get("num_docs", 0)), 0)
