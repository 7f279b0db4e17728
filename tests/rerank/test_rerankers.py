"""The rerank stage (redvec.rerank) after real searches on the embedded Redis: MMR over the
stored vectors, a tiny randomly initialised cross-encoder built here (no weights can be
downloaded), and the hosted Cohere and TEI protocols against the local server that speaks
them (tests/embedding_server.py), with its failures: 429 with Retry-After, 5xx, timeouts."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec import AsyncSearchIndex, SearchIndex
from redvec.errors import ConfigError, RerankError, ValidationError
from redvec.rerank import Candidate, Rerank, fetch_k_for, make_reranker
from redvec.schema import IndexSchema, NumericField, TextField, VectorField
from redvec.usecases import SearchSpec, search_by_text, search_by_text_async

from ..embedding_server import API_KEY, TEI_MAX_BATCH, EmbeddingServer, relevance

SCHEMA = IndexSchema(
    "rr", "rr:", (TextField("title"), NumericField("n"), VectorField("v", 4, distance="COSINE"))
)
WORDS = ["red", "green", "blue", "apple", "pear", "plum", "car", "bus", "tram", "sky"]


def _docs(n: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": f"d{i}",
            "title": " ".join(rng.choice(WORDS, size=3, replace=False)),
            "n": i,
            "v": rng.standard_normal(4).astype(np.float32),
        }
        for i in range(n)
    ]


@pytest.fixture()
def idx(r: redis.Redis) -> SearchIndex:
    index = SearchIndex.create(r, SCHEMA)
    index.upsert(_docs())
    index.wait_indexed()
    return index


def _spec(reranker: Any, fetch_k: int | None = None, **kw: Any) -> SearchSpec:
    return SearchSpec(rerank=Rerank(reranker, fetch_k), **kw)


# -- fetch_k ---------------------------------------------------------------------------------


def test_fetch_k_below_k_is_refused_and_the_default_fetches_more(idx: SearchIndex) -> None:
    assert fetch_k_for(10, None) == 50 and fetch_k_for(100, None) == 400
    assert fetch_k_for(1000, None) == 1000 and fetch_k_for(10, 10) == 10
    with pytest.raises(ValidationError, match=r"fetch_k \(5\) must be at least k \(10\)"):
        search_by_text(idx, _spec(make_reranker("mmr"), 5, vector=[1, 0, 0, 0], k=10))
    with pytest.raises(ValidationError, match="at most 1000"):
        fetch_k_for(10, 1001)
    with pytest.raises(ValidationError, match="offset"):
        search_by_text(idx, _spec(make_reranker("mmr"), vector=[1, 0, 0, 0], offset=5))


def test_unknown_rerankers_and_options_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown reranker 'colbert': use mmr, cross-encoder"):
        make_reranker("colbert")
    with pytest.raises(ConfigError, match=r"reranker mmr: .*'temperature'"):
        make_reranker("mmr", temperature=1)
    with pytest.raises(ValidationError, match="lambda must be from 0 to 1"):
        make_reranker("mmr", lambda_mult=1.5)
    with pytest.raises(ConfigError, match="neither a directory nor an installed package"):
        make_reranker("cross-encoder", model="/no/such/model")


# -- MMR -------------------------------------------------------------------------------------


def test_mmr_pushes_near_duplicates_down_and_keeps_both_scores(r: redis.Redis) -> None:
    index = SearchIndex.create(r, SCHEMA)
    q = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    docs = [
        {"id": "a", "title": "a", "n": 0, "v": [1.0, 0.05, 0.0, 0.0]},
        {"id": "a2", "title": "a copy", "n": 1, "v": [1.0, 0.06, 0.0, 0.0]},  # a's twin
        {"id": "b", "title": "b", "n": 2, "v": [0.8, 0.0, 0.6, 0.0]},
        {"id": "c", "title": "c", "n": 3, "v": [0.7, 0.0, 0.0, 0.7]},
    ]
    index.upsert(docs)
    index.wait_indexed()
    plain = search_by_text(index, SearchSpec(vector=q, k=3)).result
    assert plain.ids == ["a", "a2", "b"]
    relevant = search_by_text(index, _spec(make_reranker("mmr", lambda_mult=1.0), vector=q, k=3))
    assert relevant.result.ids == ["a", "a2", "b"]  # lambda 1: relevance order
    diverse = search_by_text(index, _spec(make_reranker("mmr", lambda_mult=0.3), vector=q, k=3))
    assert diverse.result.ids == ["a", "c", "b"]  # the twin falls out
    by_id = {h.id: h for h in plain.hits}
    for hit in diverse.result.hits:
        assert hit.score == pytest.approx(by_id.get(hit.id, hit).score)  # first stage kept
        assert hit.distance is not None and hit.rerank_score is not None
        assert "v" not in hit.fields and hit.fields["title"]  # the vector was only for MMR
    scores = [h.rerank_score for h in diverse.result.hits]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(ValidationError, match="bm25 search has no query vector"):
        search_by_text(index, _spec(make_reranker("mmr"), text="copy", mode="bm25"))
    asked = search_by_text(
        index, _spec(make_reranker("mmr", lambda_mult=0.3), vector=q, k=2, return_fields=["v"])
    )
    assert set(asked.result.hits[0].fields) == {"v"}  # asked for: returned


def test_rerank_runs_the_same_from_asyncio(redis_url: str, idx: SearchIndex) -> None:
    mmr = make_reranker("mmr", lambda_mult=0.5)
    spec = _spec(mmr, 20, vector=[0.3, -0.2, 0.9, 0.1], k=5)
    expected = search_by_text(idx, spec).result

    async def run() -> Any:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.open(client, "rr")
            return (await search_by_text_async(aidx, spec)).result
        finally:
            await client.aclose()

    got = asyncio.run(run())
    assert got.ids == expected.ids
    assert [h.rerank_score for h in got.hits] == pytest.approx(
        [h.rerank_score for h in expected.hits]
    )


# -- a cross-encoder -------------------------------------------------------------------------


def tiny_cross_encoder(path: Path, seed: int = 0) -> Path:
    """A randomly initialised one-layer BERT cross-encoder with a word-level vocabulary,
    saved as sentence-transformers loads it: the plumbing's test, not a model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = BertTokenizer(vocab={word: n for n, word in enumerate(vocab)})
    assert tokenizer.tokenize("red apple") == ["red", "apple"]
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64, num_labels=1,
    )  # fmt: skip
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_a_cross_encoder_orders_the_candidates_by_its_own_scores(
    idx: SearchIndex, tmp_path: Path
) -> None:
    from sentence_transformers import CrossEncoder

    model = tiny_cross_encoder(tmp_path / "ce")
    reranker = make_reranker("cross-encoder", model=str(model))
    assert reranker.name == "cross-encoder/ce"
    query = "red apple car"
    first = search_by_text(idx, SearchSpec(text=query, mode="bm25", k=30)).result
    got = search_by_text(idx, _spec(reranker, 30, text=query, mode="bm25", k=5)).result
    scores = CrossEncoder(str(model), device="cpu").predict(
        [(query, h.fields["title"]) for h in first.hits], show_progress_bar=False
    )
    expected = [first.hits[n].id for n in sorted(range(len(first.hits)), key=lambda n: -scores[n])]
    assert got.ids == expected[:5]
    assert got.ids != first.ids[:5]  # the order did change
    assert [h.rerank_score for h in got.hits] == pytest.approx(sorted(scores, reverse=True)[:5])
    with pytest.raises(ValidationError, match="reads the query's text"):
        search_by_text(idx, _spec(reranker, vector=[1, 0, 0, 0]))


def test_a_cross_encoder_is_found_in_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site" / "my_reranker_pkg"
    tiny_cross_encoder(package / "model")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    reranker = make_reranker("cross-encoder", model="my_reranker_pkg")
    cands = [Candidate("x", "red apple", None, 1.0), Candidate("y", "blue sky", None, 0.5)]
    assert sorted(n for n, _ in reranker.rerank("red car", None, cands, 2)) == [0, 1]


# -- hosted: Cohere /v2/rerank and TEI /rerank --------------------------------------------


def _expected(query: str, hits: list[Any], k: int) -> list[str]:
    order = sorted(range(len(hits)), key=lambda n: (-relevance(query, hits[n].fields["title"]), n))
    return [hits[n].id for n in order[:k]]


def test_cohere_orders_as_the_server_says(idx: SearchIndex, server: EmbeddingServer) -> None:
    cohere = make_reranker("cohere", model="rr-1", base_url=server.url, api_key=API_KEY)
    query = "green plum tram"
    vector = [0.1, 0.9, -0.3, 0.2]
    first = search_by_text(idx, SearchSpec(text=query, vector=vector, k=25)).result
    got = search_by_text(idx, _spec(cohere, 25, text=query, vector=vector, k=4)).result
    assert got.ids == _expected(query, first.hits, 4)
    sent = server.requests[-1]
    assert sent["path"] == "/v2/rerank" and sent["json"]["top_n"] == 4
    assert sent["json"]["model"] == "rr-1" and len(sent["json"]["documents"]) == 25
    assert got.hits[0].rerank_score == pytest.approx(relevance(query, got.hits[0].fields["title"]))


def test_tei_batches_within_its_limit_and_orders_as_the_server_says(
    idx: SearchIndex, server: EmbeddingServer
) -> None:
    tei = make_reranker("tei", base_url=server.url, api_key=API_KEY)
    query = "blue car sky red apple"
    first = search_by_text(idx, SearchSpec(text=query, mode="bm25", k=40)).result
    assert len(first.hits) > TEI_MAX_BATCH  # more than one request's worth
    before = len(server.requests)
    got = search_by_text(idx, _spec(tei, 40, text=query, mode="bm25", k=6)).result
    batches = [r["json"]["texts"] for r in server.requests[before:]]
    assert [len(b) for b in batches] == [TEI_MAX_BATCH, len(first.hits) - TEI_MAX_BATCH]
    assert got.ids == _expected(query, first.hits, 6)


def test_a_429_with_retry_after_is_waited_out(server: EmbeddingServer) -> None:
    cohere = make_reranker("cohere", base_url=server.url, api_key=API_KEY, backoff=0.01)
    server.fail_next = [429]
    server.retry_after = "0.3"
    cands = [Candidate("x", "red car", None, 1.0), Candidate("y", "blue sky", None, 0.5)]
    start = time.monotonic()
    order = cohere.rerank("blue sky", None, cands, 2)
    assert time.monotonic() - start >= 0.3
    assert order[0][0] == 1 and len(server.requests) == 2


def test_5xx_out_of_retries_and_timeouts_are_rerank_errors(server: EmbeddingServer) -> None:
    cands = [Candidate("x", "red car", None, 1.0)]
    tei = make_reranker("tei", base_url=server.url, api_key=API_KEY, max_retries=2, backoff=0.01)
    server.fail_next = [503, 503, 503]
    with pytest.raises(RerankError, match="answered HTTP 503"):
        tei.rerank("car", None, cands, 1)
    assert len(server.requests) == 3  # one try and two retries
    server.fail_next = [500]
    assert tei.rerank("car", None, cands, 1)[0][0] == 0  # a 5xx once is retried
    slow = make_reranker("cohere", base_url=server.url, api_key=API_KEY, timeout=0.2,
                         max_retries=0)  # fmt: skip
    server.delay = 0.6
    with pytest.raises(RerankError, match="timed out"):
        slow.rerank("car", None, cands, 1)
    server.delay = 0
    wrong = make_reranker("cohere", base_url=server.url, api_key="nope")
    with pytest.raises(RerankError, match="rejected the API key"):
        wrong.rerank("car", None, cands, 1)
