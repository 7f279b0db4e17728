"""redvec's LangChain store against langchain-redis, on the same server and data.

20k x 384 clustered unit vectors (COSINE, HNSW with RediSearch's defaults: M 16,
EF_CONSTRUCTION 200), a TAG metadata field with 10 values (a filter on one matches 10%),
k 10. Embedding is taken out of the measure: both stores get the same precomputed vectors
through one `Embeddings` that looks texts up. Three stores:

- redvec: ``RedvecVectorStore`` (hash storage, the category declared as a metadata field);
- langchain-redis default: ``RedisVectorStore`` with HNSW; its schema has an
  ``_index_name`` TEXT field and every search adds ``@_index_name:(...)`` to the query;
- langchain-redis best: the same with that field left out of its schema, so its searches
  are plain KNN.

Phases: add (every document, until written), ``similarity_search_by_vector``,
``similarity_search_with_score`` and a 10% filter (``similarity_search_by_vector`` with
the store's own filter form). Rounds are interleaved (each round runs every store) and
each store's best round is kept; recall@10 is against exact (numpy) search, filtered
with the same mask. langchain-redis 0.2.6 pins hf-xet below what huggingface-hub 2.x
needs, so it is not a redvec extra: ``pip install --no-deps langchain-redis==0.2.6``.

    python benchmarks/langchain.py [--n 20000] [--queries 300] [--rounds 3] [--url ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from redvec import EmbeddedServer, connect
from redvec.exact import exact_knn
from redvec.integrations.langchain import RedvecVectorStore
from redvec.schema import TagField

CATEGORIES = [f"c{i}" for i in range(10)]


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, dim))
    x = centers[rng.integers(0, 64, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


class Lookup(Embeddings):
    """Texts are keys of precomputed vectors: embedding costs a dict lookup."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        if text not in self.table:  # langchain-redis embeds a probe text for the size
            size = len(next(iter(self.table.values())))
            return [1.0] + [0.0] * (size - 1)
        return self.table[text]


def langchain_redis_store(url: str, emb: Embeddings, dim: int, *, index_filter: bool) -> Any:
    from langchain_redis import RedisConfig, RedisVectorStore
    from redisvl.schema import IndexSchema as VLSchema

    name = "lcr_default" if index_filter else "lcr_best"
    if index_filter:
        config = RedisConfig(
            index_name=name, redis_url=url, indexing_algorithm="HNSW", embedding_dimensions=dim,
            metadata_schema=[{"name": "category", "type": "tag"}],
        )  # fmt: skip
    else:
        schema = VLSchema.from_dict({
            "index": {"name": name, "prefix": name, "storage_type": "hash"},
            "fields": [
                {"name": "text", "type": "text"},
                {"name": "embedding", "type": "vector",
                 "attrs": {"dims": dim, "distance_metric": "COSINE", "algorithm": "HNSW",
                           "datatype": "FLOAT32"}},
                {"name": "_metadata_json", "type": "text"},
                {"name": "category", "type": "tag"},
            ],
        })  # fmt: skip
        config = RedisConfig(index_name=name, redis_url=url, index_schema=schema)
    return RedisVectorStore(emb, config=config)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url")
    args = ap.parse_args()
    try:
        import langchain_redis  # noqa: F401
        from redisvl.query.filter import Tag as VLTag
    except ImportError:
        sys.exit("needs langchain-redis: pip install --no-deps langchain-redis==0.2.6")

    data = clustered(args.n, args.dim, 0)
    queries = clustered(args.queries, args.dim, 1)
    texts = [f"doc {i}" for i in range(args.n)]
    qtexts = [f"query {i}" for i in range(args.queries)]
    table = {t: v.tolist() for t, v in zip(texts, data, strict=True)}
    table.update({t: v.tolist() for t, v in zip(qtexts, queries, strict=True)})
    emb = Lookup(table)
    cats = [CATEGORIES[i % 10] for i in range(args.n)]
    metas = [{"category": c, "n": i} for i, c in enumerate(cats)]
    ids = [str(i) for i in range(args.n)]
    mask = np.array([c == "c3" for c in cats])
    truth, _ = exact_knn(data, queries, 10, "COSINE")
    truth_f, _ = exact_knn(data, queries, 10, "COSINE", mask=mask)

    server = None if args.url else EmbeddedServer(appendonly=False).start()
    url = args.url or (server.url if server else "")
    try:
        client = connect(url)
        makers: dict[str, Callable[[], Any]] = {
            "redvec": lambda: RedvecVectorStore(
                emb,
                index_name="lc_redvec",
                redis_url=url,
                algorithm="HNSW",
                metadata_fields=[TagField("category")],
            ),
            "langchain-redis default": lambda: langchain_redis_store(
                url, emb, args.dim, index_filter=True
            ),
            "langchain-redis best": lambda: langchain_redis_store(
                url, emb, args.dim, index_filter=False
            ),
        }
        filters = {"redvec": {"category": "c3"}}
        best: dict[tuple[str, str], float] = {}
        recall: dict[tuple[str, str], float] = {}
        stores: dict[str, Any] = {}
        for _ in range(args.rounds):
            for name, make in makers.items():
                client.flushall()
                store = stores[name] = make()
                start = time.perf_counter()
                if name == "redvec":
                    store.add_texts(texts, metas, ids=ids)
                else:
                    store.add_texts(texts, metas, keys=ids)
                add_s = time.perf_counter() - start
                best[(name, "add")] = min(best.get((name, "add"), 1e9), add_s)
                flt = filters.get(name, VLTag("category") == "c3")
                phases: dict[str, Callable[[int], list[Any]]] = {
                    "by_vector": lambda j, s=store: s.similarity_search_by_vector(
                        table[qtexts[j]], k=10
                    ),
                    "with_score": lambda j, s=store: [
                        d for d, _ in s.similarity_search_with_score(qtexts[j], k=10)
                    ],
                    "filter 10%": lambda j, s=store, f=flt: s.similarity_search_by_vector(
                        table[qtexts[j]], k=10, filter=f
                    ),
                }
                for phase, run in phases.items():
                    start = time.perf_counter()
                    found = [run(j) for j in range(args.queries)]
                    qps = args.queries / (time.perf_counter() - start)
                    key = (name, phase)
                    best[key] = max(best.get(key, 0.0), qps)
                    want = truth_f if phase == "filter 10%" else truth
                    got = [[_doc_id(d) for d in docs] for docs in found]
                    hits = [
                        len({str(i) for i in w} & set(g)) for w, g in zip(want, got, strict=True)
                    ]
                    recall[key] = float(np.mean(hits)) / 10
        print(
            f"{args.n} x {args.dim} HNSW (COSINE), k 10, {args.queries} queries, one at a time; "
            f"best of {args.rounds} interleaved rounds"
        )
        print(f"{'store':<26}{'add docs/s':>11}{'by_vector q/s':>15}{'with_score q/s':>16}"
              f"{'filter 10% q/s':>16}   recall@10 (by_vector / filter)")  # fmt: skip
        for name in makers:
            print(
                f"{name:<26}{args.n / best[(name, 'add')]:>11.0f}"
                f"{best[(name, 'by_vector')]:>15.0f}{best[(name, 'with_score')]:>16.0f}"
                f"{best[(name, 'filter 10%')]:>16.0f}   "
                f"{recall[(name, 'by_vector')]:.3f} / {recall[(name, 'filter 10%')]:.3f}"
            )
        for other in ("langchain-redis best", "langchain-redis default"):
            ratios = ", ".join(
                f"{phase} {best[('redvec', phase)] / best[(other, phase)]:.2f}x"
                for phase in ("by_vector", "with_score", "filter 10%")
            )
            add = best[(other, "add")] / best[("redvec", "add")]
            print(f"redvec vs {other}: add {add:.2f}x, {ratios}")
    finally:
        if server is not None:
            server.stop()


def _doc_id(doc: Any) -> str:
    """The document's id: ``Document.id`` (redvec), else the key langchain-redis gives
    in metadata (its hits come back without ``Document.id``)."""
    if doc.id:
        return str(doc.id).rsplit(":", 1)[-1]
    meta = doc.metadata or {}
    return str(meta.get("id") or meta.get("n"))


if __name__ == "__main__":
    main()
