"""The BEIR retrieval benchmark on a small BEIR-format folder, with the local OpenAI-protocol
embedding server (the real SciFact run is in docs/benchmarks.md: it embeds 5,183 abstracts)."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest
import redis

from redvec.bench.retrieval import read_beir, run_retrieval
from redvec.embeddings import make_provider
from redvec.errors import ConfigError

from ..conftest import REDVEC
from ..embedding_server import API_KEY, EmbeddingServer


def tag(i: int) -> str:
    """A made-up word unique to document i ("tokbc" for 12)."""
    return "tok" + "".join(chr(97 + int(d)) for d in str(i))


WORDS = ["kinase", "neuron", "vaccine", "protein", "genome", "insulin", "tumour", "synapse"]


@pytest.fixture()
def beir(tmp_path: Path) -> Path:
    docs = []
    for i in range(80):
        w = WORDS[i % len(WORDS)]
        docs.append({"_id": f"d{i}", "title": f"study {i} of {w}", "text": f"{w} result {tag(i)}",
                     "metadata": {}})  # fmt: skip
    with gzip.open(tmp_path / "corpus.jsonl.gz", "wt") as f:
        f.write("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": f"q{i}", "text": f"{tag(i)} {WORDS[i % len(WORDS)]}"} for i in range(12)]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n")
    (tmp_path / "qrels").mkdir()
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t1" for i in range(12)]
    (tmp_path / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_runs_are_scored_against_exact_search(
    beir: Path, r: redis.Redis, server: EmbeddingServer
) -> None:
    pytest.importorskip("ranx")
    data = read_beir(beir)
    assert len(data.queries) == 12
    embedder = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY)
    report = run_retrieval(r, data, embedder, target_recall=0.99)
    assert report.documents == 80 and report.queries == 12
    rows = report.rows
    exact = rows["exact (numpy)"]
    dense = next(v for k, v in rows.items() if k.startswith("dense HNSW"))
    assert abs(dense["ndcg@10"] - exact["ndcg@10"]) <= 0.005  # the index loses nothing
    # the query's unique word is in exactly one document's text: BM25 ranks it first
    assert rows["BM25 (RediSearch)"]["mrr@10"] == pytest.approx(1.0)
    assert 0 <= rows["hybrid (RRF, 1:1)"]["ndcg@10"] <= 1
    # a second run finds everything embedded and unchanged: nothing is embedded again
    again = run_retrieval(r, data, embedder, modes=("dense",))
    assert again.rows.keys() == {
        "exact (numpy)",
        next(k for k in again.rows if k.startswith("dense")),
    }


def test_not_a_beir_folder(tmp_path: Path, cli_env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"no corpus\.jsonl"):
        read_beir(tmp_path)
    run = subprocess.run(
        [*REDVEC, "bench", "retrieval", "--beir", str(tmp_path)],
        env=cli_env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 1 and "not a BEIR folder" in run.stderr


def test_a_rerank_stage_is_scored_beside_each_run(
    beir: Path, r: redis.Redis, server: EmbeddingServer, cli_env: dict[str, str]
) -> None:
    pytest.importorskip("ranx")
    from redvec.rerank import make_reranker

    data = read_beir(beir)
    embedder = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY)
    tei = make_reranker("tei", base_url=server.url, api_key=API_KEY)
    report = run_retrieval(r, data, embedder, modes=("bm25",), reranker=tei)
    reranked = report.rows[f"bm25 + rerank {tei.name}"]
    bm25 = report.rows["BM25 (RediSearch)"]
    # the server scores the document holding the query's unique word highest, as BM25 does
    assert reranked["mrr@10"] == pytest.approx(1.0)
    assert reranked["recall@100"] == pytest.approx(bm25["recall@100"])  # same candidates
    assert report.rerank_ms["bm25"] > 0 and report.reranker == tei.name
    assert any(req["path"] == "/rerank" for req in server.requests)
    run = subprocess.run(
        [*REDVEC, "bench", "retrieval", "--beir", str(beir), "--mode", "dense",
         "--provider", "openai", "--model", "m", "--base-url", f"{server.url}/v1",
         "--rerank", "mmr", "--mmr-lambda", "0.7"],
        env={**cli_env, "OPENAI_API_KEY": API_KEY}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "| dense + rerank mmr(lambda=0.7) |" in run.stdout
    assert "rerank mmr(lambda=0.7): added per query (the rerank step alone): dense " in run.stdout
