"""Every key namespace redvec writes, in one place.

ACL rules, backup and restore, tenant drop and the cluster's hash tags read this list, so
a namespace added here is backed up, restored and granted everywhere at once; one not
listed here is a bug.

==========================  ======  =====================================================
key or prefix               type    what
==========================  ======  =====================================================
``redvec:schema:<index>``   string  the index's schema as redvec created it (JSON)
``redvec:settings:<index>`` hash    settings kept with the index (provider, text fields,
                                    tuned EF_RUNTIME)
``redvec:ingest:<index>``   hash    ingest state: document id -> content hash, chunks
``redvec:reembed:<i>:<p>``  set     ids re-embedded so far by an interrupted re-embed
``redvec:queue:<index>``    stream  jobs the HTTP service hands the stream worker
``redvec:aliases``          set     the aliases redvec set (RediSearch 2.10 cannot list them)
``redvec:tenants``          hash    tenant -> JSON {"created": ...}
``redvec:recommenders``     set     names of the recommenders (their keys: ``<name>:``)
``redvec:cluster-plan:<i>`` string  a cluster index's shard plan
``redvec:emb:<model>:<sha>`` string the embedding cache (derived: backed up on request)
==========================  ======  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALIASES",
    "CLUSTER_PLAN",
    "EMBEDDING_CACHE",
    "INGEST_STATE",
    "NAMESPACES",
    "QUEUE",
    "RECOMMENDERS",
    "REEMBED",
    "ROOT",
    "SCHEMA",
    "SETTINGS",
    "TENANTS",
    "Namespace",
]

ROOT = "redvec:"  # no index prefix may start with it (schema validation)
SCHEMA = "redvec:schema:"
SETTINGS = "redvec:settings:"
INGEST_STATE = "redvec:ingest:"
REEMBED = "redvec:reembed:"
QUEUE = "redvec:queue:"
ALIASES = "redvec:aliases"
TENANTS = "redvec:tenants"
RECOMMENDERS = "redvec:recommenders"
CLUSTER_PLAN = "redvec:cluster-plan:"
EMBEDDING_CACHE = "redvec:emb:"


@dataclass(frozen=True)
class Namespace:
    """One key or key prefix redvec owns. ``derived``: rebuilt on demand (a cache), so a
    backup leaves it out unless asked."""

    pattern: str  # a key, or a prefix ending in ':'
    derived: bool = False

    @property
    def is_prefix(self) -> bool:
        """Whether this is a key prefix (ends in ':') rather than one key."""
        return self.pattern.endswith(":")


NAMESPACES = (
    Namespace(SCHEMA),
    Namespace(SETTINGS),
    Namespace(INGEST_STATE),
    Namespace(REEMBED),
    Namespace(QUEUE),
    Namespace(ALIASES),
    Namespace(TENANTS),
    Namespace(RECOMMENDERS),
    Namespace(CLUSTER_PLAN),
    Namespace(EMBEDDING_CACHE, derived=True),
)
