"""`redvec search`: KNN, full-text and hybrid, and how hits are printed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    JsonOpt,
    UrlOpt,
    app,
    err,
    load_vector,
    print_hits,
)
from redvec.connection import connect
from redvec.errors import ValidationError
from redvec.index import SearchIndex
from redvec.query import SearchMode

# -- search ------------------------------------------------------------------------------


@app.command()
def search(
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    vector_file: Annotated[
        Path | None, typer.Option(help="Query vector as a .npy file (KNN search)")
    ] = None,
    text_query: Annotated[
        str | None,
        typer.Option("--text", help="Query text: embedded with the index's provider, else BM25"),
    ] = None,
    mode: Annotated[
        SearchMode | None,
        typer.Option(
            help="dense (KNN), bm25 (full text) or hybrid (both, fused). Default: hybrid for "
            "--text with --vector-file, dense when a vector can be had, else bm25 "
            "(docs/query.md, 'Search modes')"
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="How many results")] = 10,
    filter_expr: Annotated[
        str | None,
        typer.Option("--filter", help="e.g. 'category:finance price>=10', see docs/query.md"),
    ] = None,
    ef_runtime: Annotated[
        int | None, typer.Option(help="HNSW EF_RUNTIME for this query (dense and hybrid)")
    ] = None,
    hybrid_policy: Annotated[
        str | None,
        typer.Option(
            help="How a filtered KNN runs: auto (default: the planner chooses from the "
            "filter's match count), adhoc_bf, batches or redisearch (its own choice)"
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="BATCH_SIZE with --hybrid-policy batches")
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Print the plan the KNN ran under (to stderr)")
    ] = False,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Rerank the hits: mmr (diversity over the stored vectors), cross-encoder "
            "(--rerank-model DIR), cohere (POST /v2/rerank) or tei (--rerank-url)"
        ),
    ] = None,
    fetch_k: Annotated[
        int | None, typer.Option(help="Candidates the reranker reorders (default max(50, 4k))")
    ] = None,
    rerank_model: Annotated[
        str | None, typer.Option(help="cross-encoder: a model directory or package; cohere: model")
    ] = None,
    rerank_url: Annotated[
        str | None, typer.Option(help="tei or cohere: the rerank server's base URL")
    ] = None,
    mmr_lambda: Annotated[
        float | None, typer.Option(help="mmr: 1 is relevance order, 0 the most diverse (0.5)")
    ] = None,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """KNN with --vector-file, full-text with --text, hybrid (RRF) with both; --rerank
    reorders them (each hit then shows both scores)."""
    from redvec.rerank import Rerank, reranker_from_options
    from redvec.usecases import SearchSpec, search_by_text

    if vector_file is None and text_query is None:
        raise ValidationError("give --vector-file (KNN), --text (full-text), or both (hybrid)")
    stage = None
    if rerank is not None:
        reranker = reranker_from_options(
            rerank, model=rerank_model, base_url=rerank_url, lambda_mult=mmr_lambda
        )
        stage = Rerank(reranker, fetch_k)
    elif (fetch_k, rerank_model, rerank_url, mmr_lambda) != (None, None, None, None):
        raise ValidationError(
            "--fetch-k, --rerank-model, --rerank-url and --mmr-lambda apply with --rerank"
        )
    idx = SearchIndex.open(connect(url), index)
    vector = load_vector(vector_file) if vector_file is not None else None
    spec = SearchSpec(
        text_query, vector, mode, k, filter_expr, ef_runtime,
        hybrid_policy=hybrid_policy, batch_size=batch_size, rerank=stage,
    )  # fmt: skip
    done = search_by_text(idx, spec)
    if not as_json and done.chosen and done.mode is SearchMode.BM25:
        err.print(
            f"mode bm25: index '{index}' has no embedding provider recorded (--mode to choose)"
        )
    result = done.result
    if explain:
        plan = result.plan.to_dict() if result.plan is not None else None
        err.print(f"plan: {json.dumps(plan)}", markup=False, highlight=False, soft_wrap=True)
    print_hits(result.hits, as_json)
