"""The `redvec` index and search verbs, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import redis

from redvec.index import SearchIndex
from redvec.schema import load_schema

from .conftest import REDVEC

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "schemas"


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDVEC, *args], env=env, capture_output=True, text=True, timeout=60)


def test_index_lifecycle_and_search(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    created = run(["index", "create", str(EXAMPLES / "recommend.yaml")], cli_env)
    assert created.returncode == 0, created.stderr
    assert "created index 'users' on hash keys under 'user:'" in created.stdout

    idx = SearchIndex.open(r, "users")
    idx.upsert(
        [
            {
                "id": "1",
                "descr": "reads a lot",
                "labels": ["books", "comics"],
                "time": 10,
                "vec": [0.9, 0.7, 0.2],
            },
            {
                "id": "2",
                "descr": "gamer",
                "labels": "computers",
                "time": 20,
                "vec": [0.1, 0.2, 0.9],
            },
            {
                "id": "3",
                "descr": "comic fan",
                "labels": "comics",
                "time": 30,
                "vec": [0.2, 0.8, 0.1],
            },
        ]
    )
    idx.wait_indexed()

    info = run(["index", "info", "users", "--json"], cli_env)
    assert info.returncode == 0, info.stderr
    parsed = json.loads(info.stdout)
    assert parsed["num_docs"] == 3 and parsed["percent_indexed"] == 1.0
    assert parsed["schema"] == load_schema(EXAMPLES / "recommend.yaml").to_dict()

    listed = run(["index", "list", "--json"], cli_env)
    assert [i["name"] for i in json.loads(listed.stdout)] == ["users"]

    query = tmp_path / "q.npy"
    np.save(query, np.array([0.8, 0.8, 0.1], dtype=np.float32))
    found = run(
        ["search", "-i", "users", "--vector-file", str(query), "-k", "2", "--json"], cli_env
    )
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [h["id"] for h in hits] == ["1", "3"]
    assert hits[0]["distance"] <= hits[1]["distance"]

    filtered = run(
        [
            "search",
            "-i",
            "users",
            "--vector-file",
            str(query),
            "--filter",
            "labels:computers|books time>=15",
            "--json",
        ],
        cli_env,
    )
    assert [h["id"] for h in json.loads(filtered.stdout)] == ["2"]

    text = run(["search", "-i", "users", "--text", "gamer"], cli_env)
    assert text.returncode == 0 and " 1. 2  score" in text.stdout

    dropped = run(["index", "drop", "users", "--delete-docs"], cli_env)
    assert dropped.returncode == 0, dropped.stderr
    assert r.exists("user:1") == 0


def test_cli_errors_are_one_line(r: redis.Redis, cli_env: dict[str, str], tmp_path: Path) -> None:
    missing = run(["index", "info", "ghost"], cli_env)
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: no index named 'ghost'")

    run(["index", "create", str(EXAMPLES / "recommend.yaml")], cli_env)
    query = tmp_path / "q.npy"
    np.save(query, np.ones(5, dtype=np.float32))
    wrong = run(["search", "-i", "users", "--vector-file", str(query)], cli_env)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "error: query vector for field 'vec' has dimension 5, expected 3"
    )

    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nprefix: nocolon\nfields: [{name: t, type: text}]\n")
    refused = run(["index", "create", str(bad)], cli_env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: index 'x': prefix 'nocolon' must end with ':'")

    nothing = run(["search", "-i", "users"], cli_env)
    assert nothing.stderr.strip() == (
        "error: give --vector-file (KNN), --text (full-text), or both (hybrid)"
    )
    for result in (missing, wrong, refused, nothing):
        assert "Traceback" not in result.stderr


def test_tenant_verbs(r: redis.Redis, cli_env: dict[str, str]) -> None:
    assert run(["tenant", "create", "acme"], cli_env).returncode == 0
    created = run(
        ["index", "create", str(EXAMPLES / "recommend.yaml"), "--tenant", "acme"], cli_env
    )
    assert created.returncode == 0, created.stderr
    assert "created index 'idx:{acme}:users' on hash keys under 'user:{acme}:'" in created.stdout
    listed = json.loads(run(["tenant", "list", "--json"], cli_env).stdout)
    assert [(t["name"], t["indexes"]) for t in listed] == [("acme", ["idx:{acme}:users"])]
    unknown = run(["index", "create", str(EXAMPLES / "recommend.yaml"), "--tenant", "x"], cli_env)
    assert unknown.returncode != 0 and "no tenant named 'x'" in unknown.stderr
    dropped = run(["tenant", "drop", "acme", "--yes"], cli_env)
    assert dropped.returncode == 0 and "1 indexes" in dropped.stdout
    assert r.execute_command("FT._LIST") == []
