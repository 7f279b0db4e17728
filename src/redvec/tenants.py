"""Which tenant owns an index or a key: the hash tag in its name.

A tenant's keys and indexes carry the tenant in braces (``doc:{acme}:42``,
``idx:{acme}:docs``). Redis Cluster hashes only what is inside the first pair of
braces, so one tenant's documents, vectors and index share a slot and a shard; the
same tag is what API keys bound to a tenant are checked against.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import redis

from redvec import keys
from redvec._resp import text
from redvec.errors import TenantExistsError, TenantNotFoundError, ValidationError
from redvec.index import SearchIndex, list_indexes
from redvec.schema import IndexSchema

__all__ = [
    "TENANTS_KEY",
    "TENANT_RE",
    "TenantInfo",
    "check_tenant",
    "create_tenant",
    "create_tenant_index",
    "drop_tenant",
    "list_tenants",
    "tenant_index_name",
    "tenant_of",
    "tenant_schema",
]

TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TENANTS_KEY = keys.TENANTS  # tenant -> JSON {"created": epoch seconds}


@dataclass(frozen=True)
class TenantInfo:
    """A tenant: its name, when it was created, its indexes and their documents."""

    name: str
    created: float
    indexes: list[str]
    documents: int

    def to_dict(self) -> dict[str, Any]:
        """The tenant as JSON-ready data."""
        return dataclasses.asdict(self)


def check_tenant(name: str) -> str:
    """``name`` if it can be a tenant (1-64 letters, digits, '_', '.' or '-': it becomes a
    hash tag); :class:`ValidationError` otherwise."""
    if not isinstance(name, str) or not TENANT_RE.match(name):
        raise ValidationError(
            f"tenant name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
            f"(it becomes a hash tag in key and index names)"
        )
    return name


def tenant_index_name(tenant: str, name: str) -> str:
    """``idx:{tenant}:name``: the tag puts the index on the shard of the tenant's keys."""
    return f"idx:{{{check_tenant(tenant)}}}:{name}"


def tenant_schema(tenant: str, schema: IndexSchema) -> IndexSchema:
    """``schema`` moved into ``tenant``: index ``idx:{t}:<name>``, prefixes ``<prefix>{t}:``."""
    check_tenant(tenant)
    if tenant_of(schema.name) is not None or tenant_of(schema.prefix) is not None:
        raise ValidationError(
            f"schema '{schema.name}' already carries a hash tag; give it without one "
            f"and redvec adds the tenant's"
        )
    doc_prefix = schema.document_prefix
    return dataclasses.replace(
        schema,
        name=tenant_index_name(tenant, schema.name),
        prefix=f"{schema.prefix}{{{tenant}}}:",
        document_prefix=f"{doc_prefix}{{{tenant}}}:" if doc_prefix else None,
    )


def create_tenant(client: redis.Redis, name: str) -> TenantInfo:
    """Register a tenant; creating one that exists is an error, not a silent no-op."""
    check_tenant(name)
    created = time.time()
    if not client.hsetnx(TENANTS_KEY, name, json.dumps({"created": created})):
        raise TenantExistsError(f"tenant '{name}' already exists")
    return TenantInfo(name, created, [], 0)


def create_tenant_index(
    client: redis.Redis, tenant: str, schema: IndexSchema, *, overwrite: bool = False
) -> SearchIndex:
    """Create ``schema`` inside a registered tenant (see :func:`tenant_schema`)."""
    scoped = tenant_schema(tenant, schema)
    if not client.hexists(TENANTS_KEY, tenant):
        raise TenantNotFoundError(
            f"no tenant named '{tenant}': create it first (`redvec tenant create {tenant}`)"
        )
    return SearchIndex.create(client, scoped, overwrite=overwrite)


def _tenant_indexes(client: redis.Redis, name: str) -> list[str]:
    return [i for i in list_indexes(client) if tenant_of(i) == name]


def list_tenants(client: redis.Redis) -> list[TenantInfo]:
    """Every registered tenant with its indexes and their document counts (with a write
    buffer, the buffered documents too)."""
    out = []
    for raw_name, raw in sorted(client.hgetall(TENANTS_KEY).items()):
        name = text(raw_name)
        indexes = _tenant_indexes(client, name)
        docs = sum(SearchIndex.open(client, i).count() for i in indexes)  # + buffered
        out.append(TenantInfo(name, float(json.loads(raw)["created"]), indexes, docs))
    return out


def drop_tenant(client: redis.Redis, name: str) -> tuple[list[str], int]:
    """Drop the tenant's indexes and every key in its hash tag: (indexes, keys) dropped.

    Keys are found by their tag (``*{name}*`` then checked with :func:`tenant_of`), so
    documents written outside any index and the tenant's streams go too, and a tenant
    whose name is a substring of another's (``acme`` and ``acme-eu``) loses nothing of it.
    """
    check_tenant(name)
    if not client.hexists(TENANTS_KEY, name):
        raise TenantNotFoundError(f"no tenant named '{name}'")
    keys = [
        k for k in client.scan_iter(match=f"*{{{name}}}*", count=1000) if tenant_of(text(k)) == name
    ]
    indexes = _tenant_indexes(client, name)
    for index in indexes:
        SearchIndex.open(client, index).drop(delete_documents=True)
    for start in range(0, len(keys), 500):
        client.unlink(*keys[start : start + 500])
    client.hdel(TENANTS_KEY, name)
    return indexes, len(keys)


def tenant_of(name: str) -> str | None:
    """The hash tag of ``name`` as Redis Cluster reads it (first ``{...}``, non-empty)."""
    start = name.find("{")
    if start < 0:
        return None
    end = name.find("}", start + 1)
    if end <= start + 1:
        return None
    return name[start + 1 : end]
