"""Backup and restore: a logical export any Redis with the modules can take back, and an
optional physical RDB copy for same-version restores.

Layout of a backup folder (format 2)::

    manifest.json   format, time, server versions, indexes (schema, settings), aliases,
                    recommenders, and the keys file's count and SHA-256
    keys.jsonl      every key redvec owns, once each, one JSON line per key:
                    {"key", "type": "hash", "fields": {name: base64}},
                    {"key", "type": "json", "value": <the document>},
                    {"key", "type": "string" | "set" | "list" | "zset" | "stream", ...}
    dump.rdb        with --rdb: the server's own snapshot (BGSAVE), same version only

What redvec owns: the documents under every index's prefixes (a prefix two indexes share
is exported once; a write buffer's documents, not yet merged, too), each recommender's
keys (``<name>:``, users, items, histories, popularity, meta), and redvec's own
namespaces (:mod:`redvec.keys`: schemas, settings, ingest state, tenants, aliases, queued
jobs); the embedding cache only when asked.

Each index's documents come in the order the index assigned them internal ids (read
with ``FT.DEBUG IDTODOCID`` where the server allows it), so that a restore, which
creates the indexes first and then writes the documents in that order, rebuilds the same
HNSW graphs (HNSW graphs are not saved; the insertion order shapes them). A restore
checks everything before it writes anything: checksums, every schema, every line of the
keys file, name and prefix clashes with indexes already there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from redvec import keys as namespaces
from redvec._resp import pairs, text
from redvec.connection import inspect_server, wait_ready
from redvec.errors import ConfigError, IndexExistsError
from redvec.index import SearchIndex, list_indexes
from redvec.reindex import ALIASES_KEY
from redvec.schema import IndexSchema
from redvec.waiting import poll_until

__all__ = ["BackupSummary", "backup", "restore"]

FORMAT = "redvec-backup/2"
FORMATS = ("redvec-backup/1", FORMAT)
KEYS_FILE = "keys.jsonl"
_GLOB = re.compile(r"([*?\[\]\\])")
_TYPES = ("hash", "json", "string", "set", "list", "zset", "stream")


@dataclass(frozen=True)
class BackupSummary:
    """What a backup wrote or a restore read: the file, how many indexes, document keys,
    aliases and other redvec keys, and whether an RDB copy was made."""

    path: Path
    indexes: int
    keys: int  # document keys: under the indexes' prefixes
    aliases: int
    rdb: bool
    other_keys: int = 0  # redvec's own keys and the recommenders' (histories, meta, ...)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _aliases(client: redis.Redis, indexes: list[str]) -> dict[str, str]:
    # RediSearch 2.10 has no command that lists aliases (FT._LIST shows indexes; FT.INFO
    # <alias> resolves one), so redvec records the aliases it sets (redvec.reindex).
    out: dict[str, str] = {}
    for raw in client.smembers(ALIASES_KEY):
        alias = text(raw)
        try:
            target = text(pairs(client.execute_command("FT.INFO", alias))["index_name"])
        except redis.ResponseError:
            continue
        if target in indexes and alias not in indexes:
            out[alias] = target
    return out


def _recommenders(client: redis.Redis, indexes: list[str]) -> list[str]:
    """Recommenders: the registered ones, and any older one found by its index pair."""
    found = {text(n) for n in client.smembers(namespaces.RECOMMENDERS)}
    for name in indexes:
        if name.endswith("_users"):
            base = name[: -len("_users")]
            if f"{base}_items" in indexes and client.exists(f"{base}:meta"):
                found.add(base)
    return sorted(found)


def _scan(client: redis.Redis, prefix: str) -> Iterator[bytes]:
    yield from client.scan_iter(match=_GLOB.sub(r"\\\1", prefix) + "*", count=1000)


def _index_order(client: redis.Redis, name: str) -> list[bytes] | None:
    """The index's documents in the order it assigned them internal ids, or None when
    the server does not allow FT.DEBUG (a managed Redis, an ACL user)."""
    info = pairs(client.execute_command("FT.INFO", name))
    top = int(info.get("max_doc_id", 0) or 0)
    out: list[bytes] = []
    for lo in range(1, top + 1, 1000):
        pipe = client.pipeline(transaction=False)
        ids = range(lo, min(lo + 1000, top + 1))
        for doc_id in ids:
            pipe.execute_command("FT.DEBUG", "IDTODOCID", name, doc_id)
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                message = str(reply).lower()
                if "unknown" in message or "noperm" in message or "permission" in message:
                    return None
                continue  # a deleted document's id
            if isinstance(reply, bytes) and reply:
                out.append(reply)
    return out


def backup(
    client: redis.Redis, out: Path, *, rdb: bool = False, include_cache: bool = False
) -> BackupSummary:
    """Export everything redvec owns (module docstring) into the empty folder ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise ConfigError(f"{out} is not empty: a backup goes into a new or empty folder")
    names = list_indexes(client)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "indexes": [],
    }
    report = inspect_server(client, "")
    manifest["server"] = {"redis": report.redis_version, "modules": report.modules}
    seen: set[bytes] = set()
    ordered = True
    path = out / KEYS_FILE
    with path.open("w") as f:

        def export(key: bytes) -> bool:
            """Write ``key`` once; True when it exists (now or from an earlier index)."""
            if key in seen:
                return True
            line = _dump_key(client, key)
            if line is None:
                return False
            f.write(json.dumps(line) + "\n")
            seen.add(key)
            return True

        for name in names:
            idx = SearchIndex.open(client, name)
            schema = idx.schema
            order = _index_order(client, name)
            if order is None:
                ordered = False
            mine: set[bytes] = set()  # this index's keys, shared with another or not
            for key in order or []:
                if export(key):
                    mine.add(key)
            buffered = schema.buffer.prefix if schema.buffer is not None else None
            for prefix in [p for p in (schema.prefix, schema.document_prefix, buffered) if p]:
                for key in _scan(client, prefix):
                    if key not in mine and export(key):
                        mine.add(key)
            settings = {
                text(k): text(v) for k, v in client.hgetall(namespaces.SETTINGS + name).items()
            }
            manifest["indexes"].append(
                {"name": name, "schema": schema.to_dict(), "settings": settings, "keys": len(mine)}
            )
        documents_seen = set(seen)
        recommenders = _recommenders(client, names)
        for rec in recommenders:
            for key in _scan(client, f"{rec}:"):
                export(key)
        for ns in namespaces.NAMESPACES:
            if ns.derived and not include_cache:
                continue
            if ns.is_prefix:
                for key in _scan(client, ns.pattern):
                    export(key)
            elif client.exists(ns.pattern):
                export(ns.pattern.encode())
    documents = len(seen & documents_seen)
    manifest["keys"] = {
        "file": KEYS_FILE,
        "count": len(seen),
        "documents": documents,
        "sha256": _sha256(path),
    }
    manifest["ordered"] = ordered  # documents in index order (the same graphs on restore)
    manifest["recommenders"] = recommenders
    manifest["aliases"] = _aliases(client, names)
    manifest["rdb"] = None
    if rdb:
        manifest["rdb"] = _copy_rdb(client, out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupSummary(
        out, len(names), documents, len(manifest["aliases"]), rdb, len(seen) - documents
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _dump_key(client: redis.Redis, key: bytes) -> dict[str, Any] | None:
    kind = text(client.type(key))
    name = key.decode("utf-8", "surrogateescape")
    out: dict[str, Any] = {"key": name}
    if kind == "hash":
        fields: Any = client.hgetall(key)
        out.update(type="hash", fields={text(k): _b64(v) for k, v in fields.items()})
    elif kind == "ReJSON-RL":
        raw = client.execute_command("JSON.GET", key, "$")
        if raw is None:
            return None
        out.update(type="json", value=json.loads(raw)[0])
    elif kind == "string":
        value: Any = client.get(key)
        if value is None:
            return None
        out.update(type="string", value=_b64(value))
    elif kind == "set":
        members: Any = client.smembers(key)
        out.update(type="set", members=sorted(_b64(m) for m in members))
    elif kind == "list":
        items: Any = client.lrange(key, 0, -1)
        out.update(type="list", items=[_b64(v) for v in items])
    elif kind == "zset":
        pairs_: Any = client.zrange(key, 0, -1, withscores=True)
        out.update(type="zset", members=[[_b64(m), s] for m, s in pairs_])
    elif kind == "stream":
        entries: Any = client.xrange(key)
        out.update(
            type="stream",
            entries=[[text(i), {text(k): _b64(v) for k, v in e.items()}] for i, e in entries],
        )
    else:
        return None  # gone since SCAN saw it
    ttl = int(client.pttl(key))
    if ttl > 0:
        out["pttl"] = ttl
    return out


def _copy_rdb(client: redis.Redis, out: Path) -> dict[str, str]:
    # Wait on the save counter, not LASTSAVE: its one-second resolution can hide a save.
    info: Any = client.info("persistence")
    before = int(info.get("rdb_saves", 0))
    client.bgsave()

    def saved() -> Any:
        now = client.info("persistence")
        done = int(now.get("rdb_saves", 0)) > before and not int(now["rdb_bgsave_in_progress"])
        return now if done else None

    info = poll_until(saved, timeout=600, interval=0.05)
    if info is None:
        raise ConfigError("BGSAVE did not finish within 10 minutes")
    if info.get("rdb_last_bgsave_status") != "ok":
        raise ConfigError(
            f"BGSAVE failed ({info.get('rdb_last_bgsave_status')}): see the Redis log"
        )
    config: Any = client.config_get("dir")
    dbfile: Any = client.config_get("dbfilename")
    source = Path(config["dir"]) / dbfile["dbfilename"]
    if not source.is_file():
        raise ConfigError(
            f"the RDB file {source} is not on this machine: use the logical backup only "
            f"(without --rdb) for a remote Redis"
        )
    shutil.copyfile(source, out / "dump.rdb")
    return {"file": "dump.rdb", "sha256": _sha256(out / "dump.rdb")}


def restore(
    client: redis.Redis, src: Path, *, overwrite: bool = False, timeout: float = 3600.0
) -> BackupSummary:
    """Restore a logical backup, all or nothing: everything is checked before anything is
    written. Then the indexes are created (each returns once its scan of what the server
    already holds is done) and the keys written in the backup's order, so that each
    index's HNSW graph is built in its original insertion order; returns once every
    restored index is fully indexed."""
    manifest_file = src / "manifest.json"
    if not manifest_file.is_file():
        raise ConfigError(f"{src} has no manifest.json: not a redvec backup")
    try:
        manifest = json.loads(manifest_file.read_text())
    except ValueError as e:
        raise ConfigError(f"{manifest_file} is not JSON ({e}); nothing was restored") from None
    if manifest.get("format") not in FORMATS:
        raise ConfigError(f"{manifest_file}: format {manifest.get('format')!r}, expected {FORMAT}")
    files = _key_files(src, manifest)
    schemas = []
    for entry in manifest["indexes"]:
        try:
            schemas.append(IndexSchema.from_dict(entry["schema"]))
        except Exception as e:
            raise ConfigError(
                f"{manifest_file}: the schema of index '{entry.get('name')}' is not valid "
                f"({e}); nothing was restored"
            ) from None
    count = 0
    for path in files:
        count += sum(1 for _ in _read_keys(path))  # every line checked before any write
    mine = {s.name for s in schemas}
    existing = set(list_indexes(client))
    clash = sorted(mine & existing)
    if clash and not overwrite:
        raise IndexExistsError(
            f"index{'es' if len(clash) > 1 else ''} {', '.join(clash)} already exist; "
            f"restore into an empty Redis or pass overwrite (nothing was restored)"
        )
    others = existing - mine
    for schema in schemas:
        theirs = _prefix_owners(client, others)
        for mine_prefix in [p for p in (schema.prefix, schema.document_prefix) if p]:
            for prefix, owner in theirs:
                if mine_prefix.startswith(prefix) or prefix.startswith(mine_prefix):
                    raise IndexExistsError(
                        f"index '{schema.name}' of the backup has prefix '{mine_prefix}', "
                        f"which overlaps prefix '{prefix}' of index '{owner}' already here; "
                        f"nothing was restored"
                    )
    # -- checked: now write --------------------------------------------------------------
    for name in clash:
        client.execute_command("FT.DROPINDEX", name)
    for schema, entry in zip(schemas, manifest["indexes"], strict=True):
        SearchIndex.create(
            client, schema, shares_prefix_with=mine - {schema.name}, scan_timeout=timeout
        )
        if entry["settings"]:
            client.hset(namespaces.SETTINGS + schema.name, mapping=entry["settings"])
    keys = 0
    for path in files:
        keys += _load_keys(client, path)
    documents = manifest["keys"].get("documents", keys) if "keys" in manifest else keys
    for schema in schemas:  # the record of the restored schema wins over a restored key
        client.set(namespaces.SCHEMA + schema.name, schema.to_json())
    for alias, target in manifest.get("aliases", {}).items():
        client.execute_command("FT.ALIASUPDATE", alias, target)
        client.sadd(ALIASES_KEY, alias)
    for rec in manifest.get("recommenders", []):
        client.sadd(namespaces.RECOMMENDERS, rec)
    wait_ready(client, [s.name for s in schemas], timeout=timeout)
    return BackupSummary(
        src,
        len(schemas),
        documents,
        len(manifest.get("aliases", {})),
        bool(manifest.get("rdb")),
        keys - documents,
    )


def _key_files(src: Path, manifest: dict[str, Any]) -> list[Path]:
    """The backup's key files, checksums checked (format 1 kept one file per index)."""
    if manifest["format"] == FORMAT:
        entries = [manifest["keys"]]
    else:
        entries = [{"file": e["file"], "sha256": e["sha256"]} for e in manifest["indexes"]]
    paths = []
    for entry in entries:
        path = src / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise ConfigError(
                f"{path}: missing or its checksum does not match the manifest; the backup is "
                f"damaged, nothing was restored"
            )
        paths.append(path)
    return paths


def _prefix_owners(client: redis.Redis, indexes: set[str]) -> list[tuple[str, str]]:
    out = []
    for name in sorted(indexes):
        info = pairs(client.execute_command("FT.INFO", name))
        for p in pairs(info.get("index_definition")).get("prefixes", []):
            if text(p):
                out.append((text(p), name))
    return out


def _read_keys(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as f:
        for n, line in enumerate(f, start=1):
            try:
                item = json.loads(line)
            except ValueError as e:
                raise ConfigError(f"{path}:{n}: not JSON ({e}); nothing was restored") from None
            if not isinstance(item, dict) or item.get("type") not in _TYPES or "key" not in item:
                kind = item.get("type") if isinstance(item, dict) else None
                raise ConfigError(
                    f"{path}:{n}: not a key record (type {kind!r}); nothing was restored"
                )
            yield item


def _load_keys(client: redis.Redis, path: Path) -> int:
    pipe = client.pipeline(transaction=False)
    count = 0
    for item in _read_keys(path):
        key = item["key"].encode("utf-8", "surrogateescape")
        pipe.delete(key)
        kind = item["type"]
        if kind == "hash":
            fields = {k: base64.b64decode(v) for k, v in item["fields"].items()}
            if fields:
                pipe.hset(key, mapping=fields)
        elif kind == "json":
            pipe.execute_command("JSON.SET", key, "$", json.dumps(item["value"]))
        elif kind == "string":
            pipe.set(key, base64.b64decode(item["value"]))
        elif kind == "set":
            if item["members"]:
                pipe.sadd(key, *[base64.b64decode(m) for m in item["members"]])
        elif kind == "list":
            if item["items"]:
                pipe.rpush(key, *[base64.b64decode(v) for v in item["items"]])
        elif kind == "zset":
            if item["members"]:
                pipe.zadd(key, {base64.b64decode(m): float(sc) for m, sc in item["members"]})
        elif kind == "stream":
            for entry_id, fields in item["entries"]:
                pipe.xadd(key, {k: base64.b64decode(v) for k, v in fields.items()}, id=entry_id)
        if item.get("pttl"):
            pipe.pexpire(key, int(item["pttl"]))
        count += 1
        if count % 500 == 0:
            pipe.execute()
    pipe.execute()
    return count
