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
