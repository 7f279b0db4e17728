"""The `redvec` index and search verbs, run as a user runs them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TagField, TextField, VectorField, load_schema

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


def _not_redis_server() -> tuple[socket.socket, threading.Thread]:
    """A TCP server that answers like an HTTP server, not like Redis."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv, thread


def test_a_url_that_is_not_redis_is_one_line_with_the_fix(cli_env: dict[str, str]) -> None:
    srv, _ = _not_redis_server()
    try:
        url = f"redis://127.0.0.1:{srv.getsockname()[1]}"
        result = run(["index", "list", "--url", url], cli_env)
    finally:
        srv.close()
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: the server at redis://127.0.0.1:")
    assert "does not answer as Redis" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_user_without_permission_gets_one_line(
    r: redis.Redis, cli_env: dict[str, str], redis_url: str
) -> None:
    r.execute_command("ACL", "SETUSER", "peek", "on", ">pw", "~*", "+ping", "+module|list")
    try:
        url = redis_url.replace("redis://", "redis://peek:pw@")
        result = run(["index", "create", str(EXAMPLES / "recommend.yaml"), "--url", url], cli_env)
    finally:
        r.execute_command("ACL", "DELUSER", "peek")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: Redis refused the command for this user")
    assert "Traceback" not in result.stderr


def test_server_start_with_an_impossible_port_is_a_usage_error(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = run(["server", "start", "--port", "99999", "--dir", str(tmp_path / "d")], cli_env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "99999" in result.stderr


def test_a_schema_file_that_is_not_utf8_is_named(cli_env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\nprefix: c:\nfields: []\n".encode("latin-1"))
    result = run(["index", "create", str(bad)], cli_env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: schema file {bad} is not UTF-8 text")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("delay", [0.05, 0.1, 0.2, 0.4, 0.8])
def test_ctrl_c_at_any_moment_of_a_command_is_interrupted_not_a_traceback(
    cli_env: dict[str, str], tmp_path: Path, delay: float
) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "text": "x"}) + "\n" for i in range(10)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "redvec", "ingest", str(docs), "-i", "nothing"],
        env=cli_env,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    # 130 from redvec; -SIGINT when the signal lands before Python installs its handler
    # (a shell shows 130 for both); 1 when the command failed before the signal.
    assert proc.returncode in (130, -signal.SIGINT, 1), (proc.returncode, stderr)


def test_search_modes_are_checked_not_guessed(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    run(["index", "create", str(EXAMPLES / "recommend.yaml")], cli_env)
    query = tmp_path / "q.npy"
    np.save(query, np.ones(3, dtype=np.float32))
    bogus = run(["search", "-i", "users", "--text", "x", "--mode", "bogus"], cli_env)
    assert bogus.returncode == 2 and "'bogus' is not one of" in bogus.stderr
    vec = run(["search", "-i", "users", "--vector-file", str(query), "--mode", "bm25"], cli_env)
    assert vec.returncode == 1 and "mode bm25 searches text" in vec.stderr
    ef = run(
        ["search", "-i", "users", "--text", "x", "--mode", "bm25", "--ef-runtime", "9"], cli_env
    )
    assert ef.returncode == 1 and "ef_runtime applies to" in ef.stderr
    dense = run(["search", "-i", "users", "--text", "x", "--mode", "dense"], cli_env)
    assert dense.returncode == 1 and "no embedding provider recorded" in dense.stderr


def test_every_option_has_help_and_a_metavar_users_expect() -> None:
    from redvec.cli import command

    problems = []

    def walk(cmd: Any, path: list[str]) -> None:
        for p in cmd.params:
            if p.__class__.__name__ not in ("TyperOption", "TyperArgument"):
                continue
            if not getattr(p, "help", None):
                problems.append(f"{' '.join(path)} {p.name}: no help")
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(command(), ["redvec"])
    assert problems == []
    for args in (["search", "--help"], ["ingest", "--help"], ["index", "info", "--help"]):
        shown = subprocess.run([*REDVEC, *args], capture_output=True, text=True).stdout
        assert "<bool>" not in shown and "<str>" not in shown and "<list" not in shown, shown
    shown = subprocess.run([*REDVEC, "search", "--help"], capture_output=True, text=True).stdout
    assert "--mode [dense|bm25|hybrid]" in shown and "--json " in shown


def test_a_port_that_accepts_but_never_answers_fails_fast_not_after_minutes(
    cli_env: dict[str, str],
) -> None:
    """Probes use the short connect timeout; only real commands get the long one."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = time.monotonic()
        result = run(
            ["index", "list", "--url", f"redis://127.0.0.1:{silent.getsockname()[1]}"], cli_env
        )
        took = time.monotonic() - start
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: cannot reach Redis at redis://127.0.0.1:")
    assert "Timeout" in result.stderr and took < 30


def test_listings_for_people_are_aligned_tables_with_a_header(
    r: redis.Redis, cli_env: dict[str, str]
) -> None:
    for name in ("short", "a_much_longer_index_name"):
        SearchIndex.create(
            r,
            IndexSchema(
                name, f"{name}:", (TextField("t"), VectorField("v", dims=2, algorithm="FLAT"))
            ),
        )
    listed = run(["index", "list"], cli_env)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if line.strip()]
    assert lines[0].split() == ["index", "documents", "storage", "indexed"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"short", "a_much_longer_index_name"}
    # columns line up: each row's storage starts where the header's does
    at = lines[0].index("storage")
    assert all(row[at:].startswith("hash") for row in rows.values())
    tenants = run(["tenant", "list"], cli_env)
    assert tenants.returncode == 0 and tenants.stdout.strip() == "no tenants"


def test_search_explain_prints_the_plan_and_a_forced_policy_is_honoured(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    schema = IndexSchema(
        "cliplan",
        "cliplan:",
        (TextField("body"), TagField("kind"), VectorField("vec", dims=4, distance="L2")),
    )
    idx = SearchIndex.create(r, schema, overwrite=True)
    rng = np.random.default_rng(0)
    idx.upsert(
        {"id": str(i), "body": "x", "kind": "a" if i < 3 else "b", "vec": rng.normal(size=4)}
        for i in range(60)
    )
    idx.wait_indexed()
    query = tmp_path / "q.npy"
    np.save(query, np.ones(4, dtype=np.float32))
    base = ["search", "-i", "cliplan", "--vector-file", str(query), "--json"]
    planned = run([*base, "--filter", "kind:a", "--explain"], cli_env)
    assert planned.returncode == 0, planned.stderr
    assert {h["id"] for h in json.loads(planned.stdout)} == {"0", "1", "2"}
    line = next(x for x in planned.stderr.splitlines() if x.startswith("plan: "))
    plan = json.loads(line.removeprefix("plan: "))
    assert plan["policy"] == "ADHOC_BF" and plan["chosen_by"] == "planner"
    assert plan["matches"] == 3 and plan["documents"] == 60
    forced = run(
        [*base, "--filter", "kind:b", "--hybrid-policy", "batches", "--batch-size", "20",
         "--explain"],
        cli_env,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert '"chosen_by": "forced"' in forced.stderr and '"batch_size": 20' in forced.stderr
    bad = run([*base, "--filter", "kind:b", "--hybrid-policy", "fastest"], cli_env)
    assert bad.returncode != 0
    assert "one of auto, adhoc_bf, batches or redisearch" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_search_rerank_shows_both_scores_and_refuses_options_it_does_not_take(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    schema = IndexSchema("clirr", "clirr:", (TextField("body"), VectorField("vec", dims=4)))
    idx = SearchIndex.create(r, schema, overwrite=True)
    idx.upsert(
        [
            {"id": "a", "body": "a", "vec": [1.0, 0.05, 0, 0]},
            {"id": "a2", "body": "a copy", "vec": [1.0, 0.06, 0, 0]},
            {"id": "b", "body": "b", "vec": [0.8, 0, 0.6, 0]},
            {"id": "c", "body": "c", "vec": [0.7, 0, 0, 0.7]},
        ]
    )
    idx.wait_indexed()
    query = tmp_path / "q.npy"
    np.save(query, np.array([1, 0, 0, 0], dtype=np.float32))
    base = ["search", "-i", "clirr", "--vector-file", str(query), "-k", "3"]
    plain = run([*base, "--json"], cli_env)
    diverse = run([*base, "--json", "--rerank", "mmr", "--mmr-lambda", "0.3"], cli_env)
    assert diverse.returncode == 0, diverse.stderr
    assert [h["id"] for h in json.loads(plain.stdout)] == ["a", "a2", "b"]
    hits = json.loads(diverse.stdout)
    assert [h["id"] for h in hits] == ["a", "c", "b"]
    assert all(h["rerank_score"] is not None and h["distance"] is not None for h in hits)
    assert "vec" not in hits[0]["fields"]
    table = run([*base, "--rerank", "mmr"], cli_env)
    assert "rerank " in table.stdout and "distance " in table.stdout
    for args, needle in (
        (["--mmr-lambda", "0.3"], "apply with --rerank"),
        (["--rerank", "tei"], "the tei reranker needs --rerank-url"),
        (["--rerank", "mmr", "--rerank-url", "http://x"], "--rerank-url does not apply"),
        (["--rerank", "mmr", "--fetch-k", "2"], "fetch_k (2) must be at least k (3)"),
        (["--rerank", "colbert"], "unknown reranker 'colbert'"),
    ):
        bad = run([*base, *args], cli_env)
        assert bad.returncode == 1 and needle in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr
