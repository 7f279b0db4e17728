"""Search results checked against the numpy reference, across storage modes and metrics."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import redis

from redvec.errors import FilterError, IndexNotFoundError, ValidationError, VectorError
from redvec.exact import exact_knn
from redvec.filters import Num, Tag
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

N, DIM = 400, 16
CATEGORIES = ["finance", "sport", "science", "art"]


def make_docs(n: int = N, dim: int = DIM, seed: int = 0) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    docs = [
        {
            "id": str(i),
            "body": f"document number {i} about {CATEGORIES[i % 4]}",
            "category": CATEGORIES[i % 4],
            "price": float(i % 50),
            "embedding": vectors[i],
        }
        for i in range(n)
    ]
    return docs, vectors


def schema_for(
    storage: str,
    metric: str = "COSINE",
    algorithm: str = "FLAT",
    datatype: str = "FLOAT32",
    dim: int = DIM,
    **params: Any,
) -> IndexSchema:
    return IndexSchema(
        name=f"idx_{storage}",
        prefix=f"{storage}:",
        storage=storage,  # type: ignore[arg-type]
        document_prefix=f"{storage}doc:" if storage == "split" else None,
        fields=(
            TextField("body"),
            TagField("category"),
            NumericField("price"),
            VectorField(
                "embedding",
                dims=dim,
                algorithm=algorithm,
                distance=metric,
                datatype=datatype,
                **params,
            ),
        ),
    )


def build(r: redis.Redis, schema: IndexSchema, docs: list[dict[str, Any]]) -> SearchIndex:
    idx = SearchIndex.create(r, schema)
    idx.upsert(docs)
    idx.wait_indexed()
    return idx


@pytest.mark.parametrize("metric", ["COSINE", "L2", "IP"])
@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_flat_equals_exact_top_k(r: redis.Redis, storage: str, metric: str) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for(storage, metric), docs)
    queries = np.random.default_rng(1).normal(size=(8, DIM)).astype(np.float32)
    ids, dists = exact_knn(vectors, queries, 10, metric)
    for q, want_ids, want_d in zip(queries, ids, dists, strict=True):
        got = idx.search(q, 10)
        assert got.ids == [str(i) for i in want_ids]
        np.testing.assert_allclose([h.distance for h in got], want_d, atol=1e-5)


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_filtered_knn_equals_exact_filtered_top_k(r: redis.Redis, storage: str) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for(storage, "L2"), docs)
    mask = np.array([d["category"] in ("finance", "art") and d["price"] >= 20 for d in docs])
    flt = Tag("category").one_of(["finance", "art"]) & (Num("price") >= 20)
    queries = np.random.default_rng(2).normal(size=(5, DIM)).astype(np.float32)
    want, _ = exact_knn(vectors, queries, 10, "L2", mask=mask)
    for q, want_ids in zip(queries, want, strict=True):
        got = idx.search(q, 10, filter=flt)
        assert got.ids == [str(i) for i in want_ids]
        assert all(h.fields["category"] in ("finance", "art") for h in got)
        assert all(h.fields["price"] >= 20 for h in got)


def test_the_three_storage_modes_return_the_same_results(r: redis.Redis) -> None:
    docs, _ = make_docs()
    q = np.random.default_rng(3).normal(size=DIM)
    results = []
    for storage in ("hash", "json", "split"):
        idx = build(r, schema_for(storage), docs)
        res = idx.search(q, 10, filter="category:science|sport price<30")
        results.append([(h.id, round(h.distance or 0, 5), h.fields) for h in res])
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 10


def test_hits_decode_their_fields_on_demand_and_behave_as_values(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for("hash"), docs)
    first, second = idx.search(vectors[7], 3), idx.search(vectors[7], 3)
    hit = first.hits[0]
    assert hit.id == "7" and hit.distance == pytest.approx(0, abs=1e-6)
    want = {"body": docs[7]["body"], "category": docs[7]["category"], "price": 7}
    assert hit.to_dict() == {
        "id": "7",
        "score": hit.score,
        "distance": hit.distance,
        "fields": want,
    }
    assert hit.fields is hit.fields  # decoded once, then the same mapping
    assert first.hits == second.hits  # equal whether or not their fields were read
    assert repr(second.hits[0]) == repr(hit)
    assert f"'category': '{docs[7]['category']}'" in repr(hit)
    hit.fields = {"replaced": True}
    assert hit.fields == {"replaced": True} and hit != second.hits[0]
    ids_only = idx.search(vectors[7], 3, return_fields=[])
    assert ids_only.ids == first.ids and all(h.fields == {} for h in ids_only)


def test_hnsw_recall_at_ef_runtime_200_on_clustered_data(r: redis.Redis) -> None:
    rng = np.random.default_rng(4)
    centers = rng.normal(size=(20, 32)) * 4
    vectors = (centers[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 32))).astype(np.float32)
    docs = [{"id": str(i), "embedding": v} for i, v in enumerate(vectors)]
    schema = IndexSchema(
        "hnsw", "h:", (VectorField("embedding", dims=32, distance="L2", m=16, ef_construction=100),)
    )
    idx = build(r, schema, docs)
    queries = (centers[rng.integers(0, 20, 50)] + rng.normal(size=(50, 32))).astype(np.float32)
    truth, _ = exact_knn(vectors, queries, 10, "L2")
    found = [idx.search(q, 10, ef_runtime=200).ids for q in queries]
    recall = np.mean(
        [len(set(f) & {str(i) for i in t}) / 10 for f, t in zip(found, truth, strict=True)]
    )
    assert recall >= 0.95


@pytest.mark.parametrize("datatype", ["FLOAT16", "BFLOAT16", "FLOAT64"])
def test_reduced_precision_fields_find_the_same_neighbours(r: redis.Redis, datatype: str) -> None:
    docs, vectors = make_docs(200)
    idx = build(r, schema_for("hash", "L2", datatype=datatype), docs)
    q = vectors[17] + 0.01
    got = idx.search(q, 5)
    _, want_d = exact_knn(vectors, q, 5, "L2")
    assert got.ids[0] == "17"
    tolerance = {"FLOAT64": 1e-5, "FLOAT16": 0.05, "BFLOAT16": 0.5}[datatype]
    np.testing.assert_allclose(got.hits[0].distance, want_d[0][0], atol=tolerance)


def test_split_vector_update_leaves_json_untouched(r: redis.Redis) -> None:
    docs, vectors = make_docs(50)
    idx = build(r, schema_for("split"), [{**d, "extra": {"nested": [1, 2]}} for d in docs])
    before = r.execute_command("JSON.GET", "splitdoc:7")
    new = -vectors[3]
    idx.update_vectors(["7"], [new])
    assert r.execute_command("JSON.GET", "splitdoc:7") == before
    hit = idx.search(new, 1).hits[0]
    assert hit.id == "7"
    assert hit.fields["extra"] == {"nested": [1, 2]}


def test_range_query_returns_exactly_the_documents_within_the_radius(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for("hash", "L2"), docs)
    q = vectors[5]
    _, d = exact_knn(vectors, q, N, "L2")
    radius = float((d[0][8] + d[0][9]) / 2)  # between the 9th and 10th neighbour
    ids, _ = exact_knn(vectors, q, 9, "L2")
    got = idx.range_search(q, radius, k=100)
    assert got.ids == [str(i) for i in ids[0]]
    assert all((h.distance or 0) <= radius for h in got)


def test_paging_walks_the_exact_order(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for("json", "L2"), docs)
    q = vectors[0] * 0.5
    want, _ = exact_knn(vectors, q, 15, "L2")
    page1 = idx.search(q, 5).ids
    page2 = idx.search(q, 5, offset=5).ids
    page3 = idx.search(q, 5, offset=10).ids
    assert page1 + page2 + page3 == [str(i) for i in want[0]]


def test_batch_search_equals_single_searches(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    for storage in ("hash", "split"):
        idx = build(r, schema_for(storage), docs)
        queries = [KnnQuery(vectors[i] + 0.1, k=5, filter="category:art") for i in range(6)]
        batch = idx.search_many(queries)
        singles = [idx.query(q) for q in queries]
        assert [b.ids for b in batch] == [s.ids for s in singles]
        assert all(len(b) == 5 for b in batch)


def test_hybrid_fuses_text_and_vector_ranks(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for("hash"), docs)
    # Document 123 is found by both runs: its text and its own vector.
    hybrid = idx.hybrid_search("number 123", vectors[123], k=5)
    assert hybrid.hits[0].id == "123"
    text_only = idx.text_search("123", k=5)
    assert text_only.ids == ["123"]
    assert text_only.hits[0].score > 0
    vector_heavy = idx.hybrid_search("number 7", vectors[123], k=3, text_weight=0.0)
    assert vector_heavy.ids == idx.search(vectors[123], 3).ids


def test_text_search_respects_filters(r: redis.Redis) -> None:
    docs, _ = make_docs()
    idx = build(r, schema_for("json"), docs)
    got = idx.text_search("document", k=100, filter=Tag("category") == "sport")
    assert got.total == N // 4
    assert {h.fields["category"] for h in got} == {"sport"}


def test_upsert_overwrites_and_delete_removes(r: redis.Redis) -> None:
    docs, vectors = make_docs(20)
    for storage in ("hash", "json", "split"):
        idx = build(r, schema_for(storage), docs)
        idx.upsert([{**docs[4], "category": "art", "body": "rewritten"}])
        idx.upsert([{"id": "5", "body": "no price any more", "embedding": vectors[5]}])
        assert idx.count() == 20
        got = idx.get(["4", "5", "nope"])
        assert got[0] is not None and got[0]["category"] == "art"
        assert got[0]["body"] == "rewritten"
        assert got[1] is not None and "price" not in got[1]
        assert got[2] is None
        assert idx.delete(["4", "nope"]) == 1
        idx.wait_indexed()
        assert idx.count() == 19
        assert "4" not in idx.search(vectors[4], 3).ids


def test_wrong_dimension_names_expected_and_given(r: redis.Redis) -> None:
    docs, _ = make_docs(10)
    idx = build(r, schema_for("hash"), docs)
    with pytest.raises(VectorError) as info:
        idx.search([0.1] * 3, 5)
    assert str(info.value) == ("query vector for field 'embedding' has dimension 3, expected 16")
    with pytest.raises(
        ValidationError,
        match="document '1' vector for field 'embedding' has dimension 4, expected 16",
    ):
        idx.upsert([{"id": "1", "embedding": [1, 2, 3, 4]}])


def test_nan_zero_and_bad_documents_are_refused_before_any_write(r: redis.Redis) -> None:
    docs, vectors = make_docs(10)
    idx = build(r, schema_for("hash"), docs)
    bad_vector = vectors[0].copy()
    bad_vector[3] = np.nan
    with pytest.raises(VectorError, match="contains NaN or infinity"):
        idx.search(bad_vector, 5)
    with pytest.raises(VectorError, match="is all zeros, which has no direction under COSINE"):
        idx.search(np.zeros(DIM), 5)
    batch = [{**docs[0], "id": "new1"}, {**docs[1], "id": "new2", "price": "cheap"}]
    with pytest.raises(ValidationError, match="document 'new2' field 'price': expected a number"):
        idx.upsert(batch)
    assert r.exists("hash:new1") == 0  # the good document of the refused batch was not written
    with pytest.raises(ValidationError, match="has no usable 'id'"):
        idx.upsert([{"embedding": vectors[0]}])


def test_unknown_filter_field_and_flat_ef_runtime_are_clear_errors(r: redis.Redis) -> None:
    docs, vectors = make_docs(10)
    idx = build(r, schema_for("hash"), docs)
    with pytest.raises(FilterError) as info:
        idx.search(vectors[0], 5, filter=Tag("colour") == "red")
    assert str(info.value) == (
        "unknown field 'colour' in filter; index 'idx_hash' can filter on: body (text), "
        "category (tag), price (numeric)"
    )
    with pytest.raises(FilterError) as info:
        idx.search(vectors[0], 5, filter="price:cheap")
    assert str(info.value) == "numeric filter 'price:cheap': write price:LO..HI or price>=N"
    with pytest.raises(ValidationError, match="ef_runtime applies to HNSW fields"):
        idx.search(vectors[0], 5, ef_runtime=50)
    with pytest.raises(ValidationError, match="k must be an integer from 1 to 10000"):
        idx.search(vectors[0], 0)


def test_unknown_index_is_reported(r: redis.Redis) -> None:
    with pytest.raises(IndexNotFoundError, match="no index named 'ghost'"):
        SearchIndex.open(r, "ghost")


def test_json_documents_keep_nested_metadata(r: redis.Redis) -> None:
    docs, _ = make_docs(5)
    idx = build(r, schema_for("json"), [{**d, "meta": {"a": [1, {"b": 2}]}} for d in docs])
    stored = json.loads(r.execute_command("JSON.GET", "json:2"))
    assert stored["meta"] == {"a": [1, {"b": 2}]}
    assert idx.get(["2"])[0] == {
        "id": "2",
        "body": docs[2]["body"],
        "category": docs[2]["category"],
        "price": docs[2]["price"],
        "meta": {"a": [1, {"b": 2}]},
    }


def test_adhoc_brute_force_policy_gives_the_exact_filtered_answer_on_hnsw(r: redis.Redis) -> None:
    docs, vectors = make_docs(2000)
    idx = build(r, schema_for("hash", "L2", algorithm="HNSW", m=4, ef_construction=8), docs)
    mask = np.array([d["category"] == "art" and d["price"] < 5 for d in docs])
    flt = (Tag("category") == "art") & (Num("price") < 5)
    q = np.random.default_rng(9).normal(size=DIM)
    want, _ = exact_knn(vectors, q, 10, "L2", mask=mask)
    exact = idx.search(q, 10, filter=flt, hybrid_policy="ADHOC_BF")
    assert exact.ids == [str(i) for i in want[0]]
    batches = idx.search(q, 10, filter=flt, hybrid_policy="BATCHES", batch_size=50)
    assert set(batches.ids) <= {str(i) for i in np.flatnonzero(mask)}
    with pytest.raises(ValidationError, match="hybrid_policy applies to filtered queries only"):
        idx.search(q, 10, hybrid_policy="ADHOC_BF")


def test_hnsw_range_with_epsilon(r: redis.Redis) -> None:
    docs, vectors = make_docs()
    idx = build(r, schema_for("hash", "L2", algorithm="HNSW"), docs)
    _, d = exact_knn(vectors, vectors[3], 5, "L2")
    got = idx.range_search(vectors[3], float(d[0][4]) + 1e-3, k=50, epsilon=0.5)
    assert got.ids[0] == "3"
    assert len(got) >= 5


def test_a_stored_default_ef_runtime_is_sent_with_every_search(r: redis.Redis) -> None:
    docs, vectors = make_docs(100)
    idx = build(r, schema_for("hash", algorithm="HNSW"), docs)
    assert "EF_RUNTIME" not in idx.knn_args(KnnQuery(vectors[0]))[0][0]
    idx.set_setting("ef_runtime", 77)
    other_process_view = SearchIndex.open(r, idx.name)
    args = other_process_view.knn_args(KnnQuery(vectors[0]))[0]
    assert "EF_RUNTIME $EF" in args[0] and args[args.index("EF") + 1] == 77
    explicit = other_process_view.knn_args(KnnQuery(vectors[0], ef_runtime=5))[0]
    assert explicit[explicit.index("EF") + 1] == 5
    assert other_process_view.search(vectors[0], 3).ids[0] == "0"


@pytest.mark.parametrize(
    "sentence",
    [
        "There is an inverse relationship between hip fractures and statin use",
        "is an hip",
        "The effect of a drug",
    ],
)
def test_sentences_with_stop_words_do_not_crash_the_server(r: redis.Redis, sentence: str) -> None:
    """RediSearch 2.10.5 segfaults on "(is | an | hip)": stop words never reach it."""
    from redvec.filters import Text

    idx = SearchIndex.create(r, IndexSchema("st", "st:", (TextField("t"),)))
    idx.upsert([{"id": "1", "t": "hip fractures and statin use"}, {"id": "2", "t": "drug effect"}])
    idx.wait_indexed()
    found = idx.text_search(sentence, 5)
    assert found.hits, sentence
    filtered = idx.text_search("hip drug fractures effect", 5, filter=Text("t").any(sentence))
    assert filtered.hits
    assert r.ping()  # the server is still there
    with pytest.raises(ValidationError, match="no words to search for"):
        idx.text_search("the is a")
