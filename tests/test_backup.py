"""Backup into a folder, restore into a fresh server: same documents, same results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import redis

from redvec.backup import backup, restore
from redvec.errors import ConfigError, IndexExistsError
from redvec.index import SearchIndex
from redvec.reindex import alias_target, set_alias
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField
from redvec.server import EmbeddedServer

DIM = 8


def schemas() -> list[IndexSchema]:
    vec = VectorField("vec", dims=DIM, algorithm="FLAT")
    return [
        IndexSchema("h", "h:", (TagField("cat"), NumericField("price"), vec), storage="hash"),
        IndexSchema("j", "j:", (TextField("title"), vec), storage="json"),
        IndexSchema("s", "s:", (TagField("cat"), vec), storage="split", document_prefix="sdoc:"),
    ]


def fill(r: redis.Redis) -> list[SearchIndex]:
    rng = np.random.default_rng(0)
    out = []
    for schema in schemas():
        idx = SearchIndex.create(r, schema)
        idx.upsert(
            {"id": i, "cat": ["a", "b"][i % 2], "price": float(i), "title": f"t {i}",
             "vec": rng.normal(size=DIM), "meta": {"n": i}} if schema.storage != "hash" else
            {"id": i, "cat": ["a", "b"][i % 2], "price": float(i), "vec": rng.normal(size=DIM)}
            for i in range(200)
        )  # fmt: skip
        idx.wait_indexed()
        out.append(idx)
    out[0].set_setting("ef_runtime_note", "kept")
    set_alias(r, "hot", "h")
    return out


def test_restore_into_a_fresh_server_gives_the_same_documents_and_results(
    r: redis.Redis, tmp_path: Path
) -> None:
    originals = fill(r)
    q = np.random.default_rng(9).normal(size=DIM)
    expected = {i.name: i.search(q, 10).ids for i in originals}
    docs = {i.name: i.get([str(n) for n in range(200)], with_vectors=True) for i in originals}
    summary = backup(r, tmp_path / "bk")
    assert (summary.indexes, summary.aliases) == (3, 1)
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert {e["name"]: e["keys"] for e in manifest["indexes"]} == {"h": 200, "j": 200, "s": 400}

    with EmbeddedServer(tmp_path / "fresh") as fresh:
        c = fresh.client()
        restored = restore(c, tmp_path / "bk")
        assert restored.keys == 800
        for name in ("h", "j", "s"):
            idx = SearchIndex.open(c, name)
            assert idx.count() == 200
            assert idx.search(q, 10).ids == expected[name]
            again = idx.get([str(n) for n in range(200)], with_vectors=True)
            assert again == docs[name]
        assert alias_target(c, "hot") == "h"
        assert SearchIndex.open(c, "h").get_setting("ef_runtime_note") == "kept"
        with pytest.raises(IndexExistsError, match="already exist"):
            restore(c, tmp_path / "bk")


def test_a_damaged_backup_restores_nothing(r: redis.Redis, tmp_path: Path) -> None:
    fill(r)
    backup(r, tmp_path / "bk")
    data = next((tmp_path / "bk").glob("0-*.jsonl"))
    data.write_text(data.read_text().replace('"h:1"', '"h:x"', 1))
    r.flushall()
    with pytest.raises(ConfigError, match="checksum does not match the manifest"):
        restore(r, tmp_path / "bk")
    assert r.dbsize() == 0
    with pytest.raises(ConfigError, match="not empty"):
        backup(r, tmp_path / "bk")


def test_rdb_copy(r: redis.Redis, tmp_path: Path) -> None:
    fill(r)
    summary = backup(r, tmp_path / "bk", rdb=True)
    assert summary.rdb and (tmp_path / "bk" / "dump.rdb").stat().st_size > 1000


def test_cli_backup_and_restore(r: redis.Redis, cli_env: dict[str, str], tmp_path: Path) -> None:
    import subprocess

    from .conftest import REDVEC

    fill(r)
    made = subprocess.run(
        [*REDVEC, "backup", "--out", str(tmp_path / "bk")], env=cli_env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"backed up 3 indexes, 800 keys, 1 aliases to {tmp_path / 'bk'}" in made.stdout
    with EmbeddedServer(tmp_path / "fresh") as fresh:
        back = subprocess.run(
            [*REDVEC, "restore", str(tmp_path / "bk"), "--url", fresh.url], env=cli_env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert back.returncode == 0, back.stderr
        assert "restored 3 indexes, 800 keys, 1 aliases" in back.stdout
        assert "fully indexed after" in back.stdout
    bad = subprocess.run(
        [*REDVEC, "restore", str(tmp_path)], env=cli_env, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "has no manifest.json: not a redvec backup" in bad.stderr
