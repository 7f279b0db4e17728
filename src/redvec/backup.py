"""Backup and restore: a logical export any Redis with the modules can take back, and an
optional physical RDB copy for same-version restores.

Layout of a backup folder::

    manifest.json          format, time, server versions, indexes, aliases, checksums
    <n>-<index>.jsonl      one line per key under the index's prefixes:
                           {"key", "type": "hash", "fields": {name: base64}} or
                           {"key", "type": "json", "value": <the document>}
    dump.rdb               with --rdb: the server's own snapshot (BGSAVE), same version only

Hash values are base64 so vectors (raw float bytes) survive exactly; JSON documents are
stored as JSON. Every file's SHA-256 is in the manifest and checked before a restore
writes anything. A restore writes the documents, then creates the indexes (which index
what is already there), records schemas, settings and aliases, and returns once every
index is fully indexed: HNSW graphs are rebuilt, not restored.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from redvec._resp import pairs, text
from redvec.connection import inspect_server, wait_ready
from redvec.errors import ConfigError, IndexExistsError
from redvec.index import META_PREFIX, SETTINGS_PREFIX, SearchIndex, list_indexes
from redvec.reindex import ALIASES_KEY
from redvec.schema import IndexSchema

__all__ = ["BackupSummary", "backup", "restore"]

FORMAT = "redvec-backup/1"
_GLOB = re.compile(r"([*?\[\]\\])")


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    indexes: int
    keys: int
    aliases: int
    rdb: bool


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


def backup(client: redis.Redis, out: Path, *, rdb: bool = False) -> BackupSummary:
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
    total = 0
    for n, name in enumerate(names):
        idx = SearchIndex.open(client, name)
        schema = idx.schema
        prefixes = [p for p in (schema.prefix, schema.document_prefix) if p]
        file = out / f"{n}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.jsonl"
        count = 0
        with file.open("w") as f:
            for prefix in prefixes:
                for key in client.scan_iter(match=_GLOB.sub(r"\\\1", prefix) + "*", count=1000):
                    line = _dump_key(client, key)
                    if line is not None:
                        f.write(json.dumps(line) + "\n")
                        count += 1
        settings = {text(k): text(v) for k, v in client.hgetall(SETTINGS_PREFIX + name).items()}
        manifest["indexes"].append(
            {"name": name, "schema": schema.to_dict(), "settings": settings,
             "file": file.name, "keys": count, "sha256": _sha256(file)}
        )  # fmt: skip
        total += count
    manifest["aliases"] = _aliases(client, names)
    manifest["rdb"] = None
    if rdb:
        manifest["rdb"] = _copy_rdb(client, out)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupSummary(out, len(names), total, len(manifest["aliases"]), rdb)


def _dump_key(client: redis.Redis, key: bytes) -> dict[str, Any] | None:
    kind = text(client.type(key))
    name = key.decode("utf-8", "surrogateescape")
    if kind == "hash":
        fields: Any = client.hgetall(key)
        return {
            "key": name,
            "type": "hash",
            "fields": {text(k): base64.b64encode(v).decode() for k, v in fields.items()},
        }
    if kind == "ReJSON-RL":
        raw = client.execute_command("JSON.GET", key, "$")
        if raw is None:
            return None
        return {"key": name, "type": "json", "value": json.loads(raw)[0]}
    return None  # gone since SCAN saw it, or not a document type


def _copy_rdb(client: redis.Redis, out: Path) -> dict[str, str]:
    # Wait on the save counter, not LASTSAVE: its one-second resolution can hide a save.
    info: Any = client.info("persistence")
    before = int(info.get("rdb_saves", 0))
    client.bgsave()
    deadline = time.monotonic() + 600
    while True:
        info = client.info("persistence")
        if int(info.get("rdb_saves", 0)) > before and not int(info["rdb_bgsave_in_progress"]):
            break
        if time.monotonic() > deadline:
            raise ConfigError("BGSAVE did not finish within 10 minutes")
        time.sleep(0.05)
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
    """Restore a logical backup; returns once every restored index is fully indexed."""
    manifest_file = src / "manifest.json"
    if not manifest_file.is_file():
        raise ConfigError(f"{src} has no manifest.json: not a redvec backup")
    manifest = json.loads(manifest_file.read_text())
    if manifest.get("format") != FORMAT:
        raise ConfigError(f"{manifest_file}: format {manifest.get('format')!r}, expected {FORMAT}")
    for entry in manifest["indexes"]:
        path = src / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise ConfigError(
                f"{path}: missing or its checksum does not match the manifest; the backup is "
                f"damaged, nothing was restored"
            )
    existing = set(list_indexes(client))
    clash = [e["name"] for e in manifest["indexes"] if e["name"] in existing]
    if clash and not overwrite:
        raise IndexExistsError(
            f"index{'es' if len(clash) > 1 else ''} {', '.join(clash)} already exist; "
            f"restore into an empty Redis or pass overwrite"
        )
    keys = 0
    for entry in manifest["indexes"]:
        if entry["name"] in existing:
            client.execute_command("FT.DROPINDEX", entry["name"])
        keys += _load_keys(client, src / entry["file"])
        schema = IndexSchema.from_dict(entry["schema"])
        SearchIndex.create(client, schema)
        if entry["settings"]:
            client.hset(SETTINGS_PREFIX + schema.name, mapping=entry["settings"])
        client.set(META_PREFIX + schema.name, schema.to_json())
    for alias, target in manifest.get("aliases", {}).items():
        client.execute_command("FT.ALIASUPDATE", alias, target)
        client.sadd(ALIASES_KEY, alias)
    wait_ready(client, [e["name"] for e in manifest["indexes"]], timeout=timeout)
    return BackupSummary(
        src, len(manifest["indexes"]), keys, len(manifest.get("aliases", {})),
        bool(manifest.get("rdb")),
    )  # fmt: skip


def _load_keys(client: redis.Redis, path: Path) -> int:
    pipe = client.pipeline(transaction=False)
    count = 0
    with path.open() as f:
        for n, line in enumerate(f, start=1):
            item = json.loads(line)
            key = item["key"].encode("utf-8", "surrogateescape")
            pipe.delete(key)
            if item["type"] == "hash":
                fields = {k: base64.b64decode(v) for k, v in item["fields"].items()}
                pipe.hset(key, mapping=fields)
            elif item["type"] == "json":
                pipe.execute_command("JSON.SET", key, "$", json.dumps(item["value"]))
            else:
                raise ConfigError(f"{path}:{n}: unknown key type {item['type']!r}")
            count += 1
            if count % 500 == 0:
                pipe.execute()
    pipe.execute()
    return count
