"""Which tenant owns an index or a key: the hash tag in its name.

A tenant's keys and indexes carry the tenant in braces (``doc:{acme}:42``,
``idx:{acme}:docs``). Redis Cluster hashes only what is inside the first pair of
braces, so one tenant's documents, vectors and index share a slot and a shard; the
same tag is what API keys bound to a tenant are checked against.
"""

from __future__ import annotations

import re

__all__ = ["TENANT_RE", "tenant_of"]

TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def tenant_of(name: str) -> str | None:
    """The hash tag of ``name`` as Redis Cluster reads it (first ``{...}``, non-empty)."""
    start = name.find("{")
    if start < 0:
        return None
    end = name.find("}", start + 1)
    if end <= start + 1:
        return None
    return name[start + 1 : end]
