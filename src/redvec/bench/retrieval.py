"""Retrieval quality on a BEIR-format set: dense KNN, BM25 and hybrid, against exact
search over the very same embeddings, scored with ranx.

The corpus is embedded once (the embedding cache in Redis makes reruns cheap), indexed
as HNSW, tuned with :func:`redvec.bench.tune` to a recall target, and then every test
query runs as dense KNN (at the tuned EF_RUNTIME), BM25 (RediSearch's scorer over title
and text) and hybrid reciprocal rank fusion. The reference is exact top-k in numpy over
the vectors read back from Redis, so any gap between it and the dense run is the
index's, not the model's.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import redis

from redvec.bench.tune import tune
from redvec.embeddings import Embedder
from redvec.embeddings.cache import CachedEmbedder
from redvec.errors import ConfigError
from redvec.exact import exact_knn
from redvec.index import SearchIndex, list_indexes
from redvec.ingest.pipeline import FieldMap, Ingestor
from redvec.ingest.readers import Record
from redvec.query import KnnQuery, SearchResult
from redvec.rerank import Reranker, first_stage_fields, reranked
from redvec.schema import IndexSchema, TextField, VectorField

__all__ = ["BeirSet", "RetrievalReport", "read_beir", "run_retrieval"]

METRICS = ("ndcg@10", "recall@100", "mrr@10")
MODES = ("dense", "bm25", "hybrid")


@dataclass
class BeirSet:
    """A BEIR dataset in memory: corpus, queries and relevance judgments of one split."""

    name: str
    corpus: Path
    queries: dict[str, str]  # test queries only
    qrels: dict[str, dict[str, int]]

    def documents(self) -> Iterator[Record]:
        """The corpus as ingest records (title and text)."""
        opener = gzip.open if self.corpus.suffix == ".gz" else open
        with opener(self.corpus, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError as e:
                    yield Record(str(self.corpus), n, None, f"invalid JSON: {e}")
                    continue
                yield Record(str(self.corpus), n, data)


@dataclass
class RetrievalReport:
    """Retrieval quality per mode (nDCG@10, Recall@100, MRR@10) and the speed of each."""

    dataset: str
    documents: int
    queries: int
    model: str
    ef_runtime: int
    tune_recall: float
    ingest_s: float
    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    reranker: str | None = None
    rerank_ms: dict[str, float] = field(default_factory=dict)  # mode -> ms a query added

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return self.__dict__.copy()


def read_beir(path: str | Path, split: str = "test") -> BeirSet:
    """A BEIR dataset from its directory (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""
    p = Path(path)
    corpus = next((c for c in (p / "corpus.jsonl", p / "corpus.jsonl.gz") if c.is_file()), None)
    if corpus is None:
        raise ConfigError(f"{p}: no corpus.jsonl(.gz): not a BEIR folder")
    qfile = p / "queries.jsonl"
    qrels_file = p / "qrels" / f"{split}.tsv"
    for needed in (qfile, qrels_file):
        if not needed.is_file():
            raise ConfigError(f"{p}: no {needed.relative_to(p)}: not a BEIR folder")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open() as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) != 3:
                raise ConfigError(f"{qrels_file}:{n + 1}: expected query-id, corpus-id, score")
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = {}
    with qfile.open() as f:
        for line in f:
            if line.strip():
                q = json.loads(line)
                if str(q["_id"]) in qrels:
                    queries[str(q["_id"])] = q["text"]
    missing = set(qrels) - set(queries)
    if missing:
        raise ConfigError(f"{qfile}: {len(missing)} queries of the qrels are missing")
    return BeirSet(p.name, corpus, queries, qrels)


def _schema(name: str, dims: int) -> IndexSchema:
    return IndexSchema(
        f"beir_{name}",
        f"beir:{name}:",
        (
            TextField("title", weight=1.0),
            TextField("text"),
            VectorField("embedding", dims=dims, m=16, ef_construction=200, distance="COSINE"),
        ),
    )


def _score(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    from ranx import Qrels, Run, evaluate

    # ranx wants every query in the run; a query with no hits scores zero.
    full = {q: (run.get(q) or {"__none__": 0.0}) for q in qrels}
    scores = evaluate(Qrels(qrels), Run(full), list(METRICS))
    return {m: float(scores[m]) for m in METRICS}


def run_retrieval(
    client: redis.Redis,
    beir: BeirSet,
    embedder: Embedder,
    *,
    modes: tuple[str, ...] = MODES,
    target_recall: float = 0.99,
    k: int = 100,
    reuse: bool = True,
    progress: Callable[[str], None] | None = None,
    reranker: Reranker | None = None,
) -> RetrievalReport:
    """Ingest the corpus with ``embedder``, run every query in each mode and score the
    rankings with ranx against the judgments. With a ``reranker``, each mode also runs
    with a rerank stage over its top ``k`` (the same candidates, reordered: Recall@k is
    the mode's own), and the rerank step's time per query is reported beside it."""
    say = progress or (lambda _: None)
    for mode in modes:
        if mode not in MODES:
            raise ConfigError(f"unknown mode {mode!r}: use {', '.join(MODES)}")
    cached = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, client)
    schema = _schema(beir.name, cached.dims)
    t = time.perf_counter()
    if reuse and schema.name in list_indexes(client):
        idx = SearchIndex.open(client, schema.name)
    else:
        idx = SearchIndex.create(client, schema, overwrite=True)
    say(f"ingesting {beir.corpus} with {cached.name}")
    ingestor = Ingestor(
        idx,
        cached,
        fields=FieldMap(id_field="_id", text_fields=["title", "text"], metadata_fields=[]),
        batch_size=64,
    )
    summary = ingestor.run(beir.documents())
    idx.wait_indexed()
    ingest_s = time.perf_counter() - t
    say(f"{summary.written} written, {summary.skipped} unchanged, in {ingest_s:.0f} s; tuning")
    tuned = tune(idx, target_recall, k=10, sample=min(200, max(10, idx.count() // 4)))
    qids = sorted(beir.queries)
    texts = [beir.queries[q] for q in qids]
    qvecs = cached.embed(texts) if hasattr(cached, "embed") else None
    assert qvecs is not None
    report = RetrievalReport(
        beir.name, idx.count(), len(qids), cached.name, tuned.ef_runtime, tuned.holdout_recall,
        ingest_s,
    )  # fmt: skip

    say("exact search over the stored embeddings")
    t = time.perf_counter()
    ids: list[str] = []
    rows = []
    for batch_ids, matrix in idx.iter_vectors():
        ids += batch_ids
        rows.append(matrix)
    base = np.vstack(rows)
    found, dists = exact_knn(base, qvecs, k, "COSINE")
    exact_run = {
        q: {ids[j]: float(1 - d) for j, d in zip(found[n], dists[n], strict=True)}
        for n, q in enumerate(qids)
    }
    report.seconds["exact"] = time.perf_counter() - t
    report.rows["exact (numpy)"] = _score(beir.qrels, exact_run)

    if "dense" in modes:
        t = time.perf_counter()
        results = []
        for lo in range(0, len(qids), 50):
            results += idx.search_many(
                [KnnQuery(v, k, return_fields=[]) for v in qvecs[lo : lo + 50]]
            )
        run = {q: {h.id: h.score for h in r.hits} for q, r in zip(qids, results, strict=True)}
        report.seconds["dense"] = time.perf_counter() - t
        report.rows[f"dense HNSW (EF_RUNTIME {tuned.ef_runtime})"] = _score(beir.qrels, run)
    if "bm25" in modes:
        t = time.perf_counter()
        run = {}
        for q, text in zip(qids, texts, strict=True):
            try:
                hits = idx.text_search(text, k, return_fields=[]).hits
            except Exception as e:  # a query with no searchable words
                say(f"BM25 skipped query {q}: {e}")
                hits = []
            run[q] = {h.id: h.score for h in hits}
        report.seconds["bm25"] = time.perf_counter() - t
        report.rows["BM25 (RediSearch)"] = _score(beir.qrels, run)
    if "hybrid" in modes:
        t = time.perf_counter()
        run = {}
        for q, text, v in zip(qids, texts, qvecs, strict=True):
            hits = idx.hybrid_search(text, v, k, candidates=k).hits
            run[q] = {h.id: h.score for h in hits}
        report.seconds["hybrid"] = time.perf_counter() - t
        report.rows["hybrid (RRF, 1:1)"] = _score(beir.qrels, run)
    if reranker is not None:
        report.reranker = reranker.name
        for mode in modes:
            say(f"{mode} + rerank {reranker.name}")
            run, ms = _reranked_run(idx, reranker, mode, qids, texts, qvecs, k)
            report.rows[f"{mode} + rerank {reranker.name}"] = _score(beir.qrels, run)
            report.rerank_ms[mode] = ms
    return report


TEXT_FIELDS = ["title", "text"]


def _reranked_run(
    idx: SearchIndex,
    reranker: Reranker,
    mode: str,
    qids: list[str],
    texts: list[str],
    qvecs: np.ndarray,
    k: int,
) -> tuple[dict[str, dict[str, float]], float]:
    """Each query's first ``k`` in ``mode`` (with what the reranker reads), reranked; the
    run and the rerank step's mean milliseconds a query (the first stage not counted)."""
    fields = first_stage_fields(idx.schema, [], reranker, TEXT_FIELDS) or []
    run: dict[str, dict[str, float]] = {}
    spent = 0.0
    for q, text, v in zip(qids, texts, qvecs, strict=True):
        if mode == "dense":
            first = idx.query(KnnQuery(v, k, return_fields=fields))
        elif mode == "bm25":
            try:
                first = idx.text_search(text, k, return_fields=fields)
            except Exception:  # a query with no searchable words, as in the bm25 run
                first = SearchResult(0, [])
        else:
            first = idx.hybrid_search(text, v, k, candidates=k, return_fields=fields)
        t = time.perf_counter()
        result = reranked(
            first, reranker, k=k, query=text, query_vector=v, schema=idx.schema,
            return_fields=[], text_fields=TEXT_FIELDS,
        )  # fmt: skip
        spent += time.perf_counter() - t
        # Scored by rank, so the run keeps the reranker's order exactly (an MMR objective
        # can rise after the first pick when a candidate is unlike it).
        run[q] = {h.id: float(len(result.hits) - n) for n, h in enumerate(result.hits)}
    return run, 1000 * spent / max(1, len(qids))
