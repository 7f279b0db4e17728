"""`redvec ingest` and `redvec search --text`, run as a user runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from pydoc_data.topics import topics

import pytest
import redis

from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TextField, VectorField

from ..conftest import REDVEC, openai_args
from ..embedding_server import API_KEY, EmbeddingServer


def run(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REDVEC, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def start_ingest(
    src: Path, index: str, env: dict[str, str], server: EmbeddingServer
) -> subprocess.Popen[str]:
    """`redvec ingest` in the background, in batches of 10, embedding through `server`.

    SIGINT is reset to its default in the child: a shell starts background jobs with it
    ignored, and Python keeps an inherited "ignore", so Ctrl-C could never arrive.
    """
    return subprocess.Popen(
        [
            *REDVEC,
            "ingest",
            str(src),
            "-i",
            index,
            *openai_args(server),
            "--batch-size",
            "10",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_keys(client: redis.Redis, pattern: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(client.keys(pattern)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} keys {pattern} in {timeout}s"
        time.sleep(0.05)


def test_ingest_with_rejects_then_search_by_text(
    r: redis.Redis, cli_env: dict[str, str], server: EmbeddingServer, tmp_path: Path
) -> None:
    SearchIndex.create(
        r, IndexSchema("notes", "note:", (TextField("text"), VectorField("embedding", dims=8)))
    )
    src = tmp_path / "notes.jsonl"
    src.write_text('{"id": 1, "text": "first note"}\n{broken\n{"id": 2, "text": "second"}\n')
    env = {**cli_env, "OPENAI_API_KEY": API_KEY}
    args = [
        "ingest",
        str(src),
        "-i",
        "notes",
        *openai_args(server),
        "--rejects",
        str(tmp_path / "bad.jsonl"),
        "--json",
    ]
    first = run(args, env)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert {k: summary[k] for k in ("read", "written", "rejected", "embedded")} == {
        "read": 3,
        "written": 2,
        "rejected": 1,
        "embedded": 2,
    }
    bad = json.loads((tmp_path / "bad.jsonl").read_text())
    assert bad["line"] == 2 and bad["reason"].startswith("invalid JSON")

    # The index remembers its provider (never the key): search embeds the query with it.
    found = run(["search", "-i", "notes", "--text", "second", "-k", "1", "--json"], env)
    assert found.returncode == 0, found.stderr
    assert [h["id"] for h in json.loads(found.stdout)] == ["2"]
    assert json.loads(found.stdout)[0]["distance"] == pytest.approx(0.0, abs=1e-5)
    assert API_KEY not in str(r.hgetall("redvec:settings:notes"))

    again = run(["ingest", str(src), "-i", "notes", "--json"], env)
    assert json.loads(again.stdout)["embedded"] == 0 and json.loads(again.stdout)["written"] == 0


def test_provider_dimension_mismatch_stops_before_writing(
    r: redis.Redis, cli_env: dict[str, str], server: EmbeddingServer, tmp_path: Path
) -> None:
    SearchIndex.create(r, IndexSchema("wide", "wide:", (VectorField("embedding", dims=384),)))
    src = tmp_path / "n.jsonl"
    src.write_text('{"id": 1, "text": "x"}\n')
    result = run(
        [
            "ingest",
            str(src),
            "-i",
            "wide",
            *openai_args(server),
        ],
        {**cli_env, "OPENAI_API_KEY": API_KEY},
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "error: provider 'openai/m' makes 8-d vectors but index 'wide' expects 384-d"
    )
    assert r.keys("wide:*") == []


def test_python_help_topics_with_the_local_model(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the local extra")
    SearchIndex.create(
        r,
        IndexSchema(
            "pydoc",
            "pydoc:",
            (TextField("title"), TextField("text"), VectorField("embedding", dims=384)),
            storage="json",
        ),
    )
    src = tmp_path / "topics.jsonl"
    src.write_text(
        "".join(json.dumps({"id": k, "title": k, "text": v}) + "\n" for k, v in topics.items())
    )
    first = run(
        [
            "ingest",
            str(src),
            "-i",
            "pydoc",
            "--provider",
            "local",
            "--text-field",
            "title",
            "--text-field",
            "text",
            "--json",
        ],
        cli_env,
    )
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["written"] == len(topics)

    hits = run(
        ["search", "-i", "pydoc", "--text", "how do I catch an exception", "-k", "3", "--json"],
        cli_env,
    )
    assert hits.returncode == 0, hits.stderr
    assert "try" in [h["id"] for h in json.loads(hits.stdout)]

    again = json.loads(run(["ingest", str(src), "-i", "pydoc", "--json"], cli_env).stdout)
    assert (again["embedded"], again["written"], again["skipped"]) == (0, 0, len(topics))


def test_redis_stopped_mid_ingest_then_rerun_completes(
    tmp_path: Path, cli_env: dict[str, str], server: EmbeddingServer
) -> None:
    from redvec.server import EmbeddedServer

    data = tmp_path / "redis"
    redis_server = EmbeddedServer(data).start()
    port = redis_server.port
    url = redis_server.url
    try:
        client = redis_server.client()
        SearchIndex.create(
            client,
            IndexSchema("big", "big:", (TextField("text"), VectorField("embedding", dims=8))),
        )
        src = tmp_path / "big.jsonl"
        src.write_text(
            "".join(json.dumps({"id": i, "text": f"doc {i}"}) + "\n" for i in range(300))
        )
        env = {**cli_env, "OPENAI_API_KEY": API_KEY, "REDIS_URL": url}
        server.delay = 0.1
        proc = start_ingest(src, "big", env, server)
        wait_for_keys(client, "big:*", 50)
        redis_server.stop()
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert "error: lost Redis during ingest after" in stderr
        assert "Traceback" not in stderr

        redis_server = EmbeddedServer(data, port=port).start()
        server.delay = 0.0
        rerun = run(["ingest", str(src), "-i", "big", "--json"], env)
        assert rerun.returncode == 0, rerun.stderr
        summary = json.loads(rerun.stdout)
        assert summary["skipped"] >= 50 and summary["written"] + summary["skipped"] == 300
        client = redis_server.client()
        idx = SearchIndex.open(client, "big")
        idx.wait_indexed()
        assert idx.count() == 300
        assert sorted(int(k.split(b":")[1]) for k in client.keys("big:*")) == list(range(300))
    finally:
        redis_server.stop()


def test_ctrl_c_mid_ingest_then_rerun_completes_without_reembedding(
    r: redis.Redis, tmp_path: Path, cli_env: dict[str, str], server: EmbeddingServer
) -> None:
    SearchIndex.create(
        r, IndexSchema("ctrlc", "cc:", (TextField("text"), VectorField("embedding", dims=8)))
    )
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": f"doc {i}"}) + "\n" for i in range(200)))
    env = {**cli_env, "OPENAI_API_KEY": API_KEY}
    server.delay = 0.1
    proc = start_ingest(src, "ctrlc", env, server)
    wait_for_keys(r, "cc:*", 30)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    written_before = len(r.keys("cc:*"))
    assert 30 <= written_before < 200

    server.delay = 0.0
    rerun = json.loads(run(["ingest", str(src), "-i", "ctrlc", "--json"], env).stdout)
    # A Ctrl-C between a batch's write and its bookkeeping (the state is recorded only once
    # the write is confirmed) leaves that batch to be written again: never lost, never
    # skipped unwritten. Everything else written before is skipped.
    assert written_before - 10 <= rerun["skipped"] <= written_before  # one batch of 10
    assert rerun["skipped"] + rerun["written"] == 200
    assert rerun["embedded"] <= 200 - written_before  # the cache spares what was embedded
    assert sorted(int(k.split(b":")[1]) for k in r.keys("cc:*")) == list(range(200))


ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_use_it_commands_work_as_written(
    r: redis.Redis, cli_env: dict[str, str]
) -> None:
    """seed.yaml was 1536-d while --provider local makes 384-d vectors, and the default
    --text-field text rejected every record with exit 0."""
    pytest.importorskip("sentence_transformers", reason="needs the local extra")
    import shlex

    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Use it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    wanted = ("redvec index create examples/schemas/docs.yaml", "redvec ingest ", "--text ")
    lines = [
        line.split("  #", 1)[0].strip()
        for line in block.splitlines()
        if any(w in line for w in wanted) and "--tenant" not in line
    ]
    assert len(lines) == 3, lines
    outputs = []
    for line in lines:
        args = shlex.split(line)
        assert args[0] == ".venv/bin/redvec"
        done = subprocess.run(
            [*REDVEC, *args[1:]], env=cli_env, cwd=ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (line, done.stderr)
        outputs.append(done.stdout)
    assert "read 5, written 5" in outputs[1]
    assert outputs[2].splitlines()[0].split()[1] == "q1"  # "quarterly results", finance
    (ROOT / "bad.jsonl").unlink(missing_ok=True)


def test_a_run_that_rejects_everything_exits_non_zero_and_keeps_the_recorded_fields(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path, server: EmbeddingServer
) -> None:
    SearchIndex.create(
        r, IndexSchema("tf", "tf:", (TextField("title"), VectorField("embedding", dims=8)))
    )
    src = tmp_path / "t.jsonl"
    src.write_text("".join(json.dumps({"id": i, "title": f"t {i}"}) + "\n" for i in range(6)))
    env = {**cli_env, "OPENAI_API_KEY": API_KEY}
    ok = run(["ingest", str(src), "-i", "tf", *openai_args(server)], env)
    assert ok.returncode == 0 and "written 6" in ok.stdout, ok.stderr
    assert SearchIndex.open(r, "tf").get_setting("text_fields") == '["title"]'
    bad = run(["ingest", str(src), "-i", "tf", "--text-field", "body", *openai_args(server)], env)
    assert bad.returncode == 1
    assert "every one of the 6 records was rejected" in bad.stderr
    assert SearchIndex.open(r, "tf").get_setting("text_fields") == '["title"]'
    src.write_text("".join(json.dumps({"id": i, "title": f"t {i}"}) + "\n" for i in range(4)))
    refused = run(["ingest", str(src), "-i", "tf", "--text-field", "body", "--delete-missing"], env)
    assert refused.returncode == 1 and "refusing to delete 2 documents" in refused.stderr
    dry = run(["ingest", str(src), "-i", "tf", "--delete-missing", "--dry-run"], env)
    assert dry.returncode == 0 and "would delete 2 documents" in dry.stdout
    assert "  4" in dry.stdout and "  5" in dry.stdout
    assert SearchIndex.open(r, "tf").count() == 6
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run(["ingest", str(empty), "-i", "tf", "--delete-missing"], env)
    assert nothing.returncode == 1 and "read no records" in nothing.stderr
    assert SearchIndex.open(r, "tf").count() == 6


def test_a_long_text_warns_that_it_was_truncated(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pytest.importorskip("sentence_transformers", reason="needs the local extra")
    SearchIndex.create(
        r, IndexSchema("long", "long:", (TextField("text"), VectorField("embedding", dims=384)))
    )
    src = tmp_path / "l.jsonl"
    src.write_text(
        json.dumps({"id": "big", "text": "word " * 2000})
        + "\n"
        + json.dumps({"id": "small", "text": "a few words"})
        + "\n"
    )
    done = run(["ingest", str(src), "-i", "long", "--provider", "local"], cli_env)
    assert done.returncode == 0, done.stderr
    assert "warning: 1 texts were longer than the model reads" in done.stderr
    assert "--chunk-size" in done.stderr
    chunked = run(
        ["ingest", str(src), "-i", "long", "--provider", "local", "--chunk-size", "500"], cli_env
    )
    assert chunked.returncode == 0 and "warning" not in chunked.stderr, chunked.stderr


def test_an_index_ingested_with_the_int8_variant_is_searched_with_it_and_never_mixed(
    r: redis.Redis, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A user picks the fast variant for ingest; searches must embed with it too, and a
    later ingest with the exact weights must not slip fp32 vectors in beside int8 ones."""
    pytest.importorskip("onnxruntime", reason="needs the local extra")
    SearchIndex.create(
        r,
        IndexSchema(
            "fast",
            "fast:",
            (TextField("title"), TextField("text"), VectorField("embedding", dims=384)),
            storage="json",
        ),
    )
    names = ["try", "with", "function", "class", "import", "lambda"]
    src = tmp_path / "topics.jsonl"
    src.write_text(
        "".join(json.dumps({"id": k, "title": k, "text": topics[k][:1500]}) + "\n" for k in names)
    )
    first = run(["ingest", str(src), "-i", "fast", "--model-variant", "int8", "--json"], cli_env)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["written"] == len(names)
    idx = SearchIndex.open(r, "fast")
    assert json.loads(idx.get_setting("provider") or "") == {"kind": "local", "variant": "int8"}
    assert len(r.keys("redvec:emb:local/all-MiniLM-L6-v2:int8:*")) == len(names)

    hits = run(
        ["search", "-i", "fast", "--text", "catch an exception", "-k", "2", "--json"], cli_env
    )
    assert hits.returncode == 0, hits.stderr
    assert json.loads(hits.stdout)[0]["id"] == "try"

    again = json.loads(run(["ingest", str(src), "-i", "fast", "--json"], cli_env).stdout)
    assert (again["embedded"], again["skipped"]) == (0, len(names))  # the recorded variant

    mixed = run(["ingest", str(src), "-i", "fast", "--model-variant", "fp32"], cli_env)
    assert mixed.returncode == 1
    assert mixed.stderr.startswith(
        "error: index 'fast' holds documents embedded with local/all-MiniLM-L6-v2:int8; "
        "adding some embedded with local/all-MiniLM-L6-v2 would mix vectors"
    ), mixed.stderr
    assert len(r.keys("redvec:emb:local/all-MiniLM-L6-v2:[0-9a-f]*")) == 0  # nothing embedded

    switched = run(
        ["reembed", "-i", "fast", "--provider", "local", "--model-variant", "fp32"], cli_env
    )
    assert switched.returncode == 0, switched.stderr
    recorded = SearchIndex.open(r, "fast").get_setting("provider")
    assert json.loads(recorded or "") == {"kind": "local", "variant": "fp32"}
    assert len(r.keys("redvec:emb:local/all-MiniLM-L6-v2:[0-9a-f]*")) == len(names)
