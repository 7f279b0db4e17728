"""Redis ACL users for redvec roles: reader, writer, admin.

On Redis 8.2 OSS with RediSearch 2.10 the FT.* and JSON.* commands belong to no ACL
category (``+@search`` is refused), so they are granted by name. RediSearch treats the
index name as a key for ACL checks, so a user's key patterns must cover the index names
too: name indexes ``idx:...`` (the default ``--index`` pattern) and keep documents under
their own prefix. redvec's own metadata (``redvec:schema:*``, ``redvec:settings:*``)
is readable by every role, writable by admins only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis

from redvec import keys
from redvec.errors import ConfigError

__all__ = ["ROLES", "AclUser", "create_user", "rules_for"]

READ = [
    "FT.SEARCH", "FT.AGGREGATE", "FT.INFO", "FT._LIST", "FT.EXPLAIN", "FT.PROFILE",
    "FT.CURSOR", "JSON.GET", "JSON.MGET", "JSON.TYPE", "HGET", "HGETALL", "HMGET", "HKEYS",
    "EXISTS", "TYPE", "SCAN", "GET", "MGET", "SMEMBERS", "XLEN", "XINFO", "PING", "ECHO",
    "INFO", "MODULE|LIST", "EVALSHA", "EVAL", "SCRIPT|LOAD", "SCRIPT|EXISTS", "CLIENT|SETINFO",
    "CLIENT|SETNAME", "HELLO", "SELECT",
]  # fmt: skip
WRITE = [
    "HSET", "HDEL", "DEL", "UNLINK", "JSON.SET", "JSON.DEL", "JSON.MSET", "XADD", "XREADGROUP",
    "XACK", "XAUTOCLAIM", "XGROUP|CREATE", "XPENDING", "XCLAIM", "SET", "MSET", "EXPIRE",
]  # fmt: skip
ROLES = ("reader", "writer", "admin")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class AclUser:
    """A Redis ACL user redvec manages: its name, its role (reader, writer or admin) and the
    rules sent with ``ACL SETUSER``."""

    name: str
    role: str
    rules: list[str]


def rules_for(role: str, prefixes: list[str], index_pattern: str) -> list[str]:
    """The ACL rules of ``role`` (reader, writer, admin) over the key ``prefixes`` (each ending
    in ':') and the indexes ``index_pattern`` matches: readers get read commands on those
    keys only, writers write commands too, admins everything. :class:`ConfigError` for an
    unknown role or a malformed prefix."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if role == "admin":
        return ["+@all", "~*", "&*"]
    for p in prefixes:
        if not p.endswith(":") or "*" in p:
            raise ConfigError(f"prefix {p!r} must end with ':' and contain no '*'")
    rules = ["-@all", *(f"+{c.lower()}" for c in READ)]
    patterns = [f"{p}*" for p in prefixes]
    if role == "writer":
        rules += [f"+{c.lower()}" for c in WRITE]
        rules += [f"~{k}" for k in patterns]
    else:
        rules += [f"%R~{k}" for k in patterns]
    # RediSearch's key specs for FT.INFO/FT.SEARCH do not say read-only, so the index
    # names need plain access; no FT command that changes an index is granted anyway.
    rules.append(f"~{index_pattern}")
    # metadata redvec reads to open an index; the embedding cache a writer fills
    rules += [f"%R~{ns}*" for ns in (keys.SCHEMA, keys.SETTINGS)]
    if role == "writer":
        rules += [f"~{ns}*" for ns in (keys.EMBEDDING_CACHE, keys.INGEST_STATE, keys.QUEUE)]
    return rules


def create_user(
    client: redis.Redis,
    name: str,
    role: str,
    password: str,
    *,
    prefixes: list[str] | None = None,
    index_pattern: str = "idx:*",
) -> AclUser:
    """Create or replace the ACL user ``name`` (``ACL SETUSER ... reset``)."""
    if not _NAME.match(name) or name == "default":
        raise ConfigError(f"user name {name!r}: 1-64 letters, digits, '_', '.', '@', '-'")
    if len(password) < 16:
        raise ConfigError("the password must have at least 16 characters")
    rules = rules_for(role, prefixes or ["doc:"], index_pattern)
    client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rules)
    return AclUser(name, role, rules)
