"""`redvec bench ann|retrieval|filtered`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    BaseUrlOpt,
    ModelOpt,
    UrlOpt,
    VariantOpt,
    app,
    err,
    out,
)
from redvec.connection import connect
from redvec.errors import ValidationError
from redvec.lists import comma_list, positive_ints

bench_app = typer.Typer(
    help="Benchmarks: recall vs speed, retrieval quality.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


@bench_app.command("ann")
def bench_ann(
    dataset: Annotated[
        str | None,
        typer.Option(
            help="fvecs/ivecs folder or prefix, .npy folder, or .hdf5 (default: "
            "20k clustered 128-d vectors)"
        ),
    ] = None,
    k: Annotated[int, typer.Option(help="recall@k")] = 10,
    build: Annotated[
        list[str] | None, typer.Option(help="M=16,32 and/or EF_CONSTRUCTION=100,200 (repeat)")
    ] = None,
    ef_runtime: Annotated[str, typer.Option(help="EF_RUNTIME values")] = "10,20,40,80,160,320",
    concurrency: Annotated[str, typer.Option(help="Client threads")] = "1",
    queries: Annotated[int | None, typer.Option(help="Use the first N queries")] = None,
    min_queries: Annotated[
        int,
        typer.Option(
            help="Each timed point runs the query set until at least this many queries "
            "were sent (a short run's ratio is noise)"
        ),
    ] = 1000,
    metric: Annotated[
        str | None, typer.Option(help="L2, COSINE or IP (default: the dataset's)")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the report goes")] = Path(
        "bench-out/ann"
    ),
    synthetic: Annotated[
        str, typer.Option(help="N,DIM of the clustered set used without --dataset")
    ] = "20000,128",
    url: UrlOpt = None,
) -> None:
    """Recall@k, QPS and latency per build and EF_RUNTIME, with hnswlib and numpy baselines."""
    from redvec.bench.ann import parse_build, run_ann
    from redvec.bench.ann_report import write_report
    from redvec.bench.datasets import load_dataset

    builds = parse_build(build or [])
    efs = positive_ints(ef_runtime, "--ef-runtime")
    threads = positive_ints(concurrency, "--concurrency")
    n_dim = positive_ints(synthetic, "--synthetic")
    if len(n_dim) != 2:
        raise ValidationError(f"--synthetic is N,DIM, got {synthetic!r}")
    data = load_dataset(
        dataset, k=k, queries=queries, metric=metric, synthetic=(n_dim[0], n_dim[1])
    )
    err.print(
        f"{data.name}: {len(data.base)} x {data.dims} {data.metric}, {len(data.queries)} "
        f"queries, ground truth {data.ground_truth}"
    )
    report = run_ann(
        connect(url), data, k=k, builds=builds, efs=efs, concurrency=threads,
        min_queries=min_queries, progress=lambda m: err.print(m, markup=False),
    )  # fmt: skip
    files = write_report(report, out_dir)
    out.print((out_dir / "results.md").read_text(), markup=False, soft_wrap=True)
    err.print("wrote " + ", ".join(str(f) for f in files))


@bench_app.command("retrieval")
def bench_retrieval(
    beir: Annotated[
        Path, typer.Option(help="A BEIR folder: corpus.jsonl(.gz), queries.jsonl, qrels/")
    ],
    mode: Annotated[
        str, typer.Option(help="dense, bm25, hybrid (comma-separated)")
    ] = "dense,bm25,hybrid",
    provider: Annotated[str, typer.Option(help="local, openai or cohere")] = "local",
    model: ModelOpt = None,
    model_variant: VariantOpt = None,
    base_url: BaseUrlOpt = None,
    target_recall: Annotated[
        float, typer.Option(help="Recall@10 the dense run is tuned to")
    ] = 0.99,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write report.json and report.md here")
    ] = None,
    rerank: Annotated[
        str | None,
        typer.Option(
            help="Also run each mode with a rerank stage: mmr, cross-encoder (--rerank-model), "
            "cohere or tei (--rerank-url)"
        ),
    ] = None,
    rerank_model: Annotated[
        str | None, typer.Option(help="cross-encoder: a model directory or package; cohere: model")
    ] = None,
    rerank_url: Annotated[
        str | None, typer.Option(help="tei or cohere: the rerank server's base URL")
    ] = None,
    mmr_lambda: Annotated[float | None, typer.Option(help="mmr's lambda (0.5)")] = None,
    url: UrlOpt = None,
) -> None:
    """nDCG@10, Recall@100, MRR@10 (ranx) of dense, BM25 and hybrid runs vs exact search;
    with --rerank, of each run reranked too, and the time the rerank step adds a query."""
    from redvec.bench.retrieval import read_beir, run_retrieval
    from redvec.providers import build_provider, provider_spec
    from redvec.rerank import reranker_from_options

    reranker = None
    if rerank is not None:
        reranker = reranker_from_options(
            rerank, model=rerank_model, base_url=rerank_url, lambda_mult=mmr_lambda
        )
    embedder = build_provider(provider_spec(provider, model, base_url, model_variant))
    data = read_beir(beir)
    report = run_retrieval(
        connect(url), data, embedder,
        modes=tuple(comma_list(mode)),
        target_recall=target_recall, progress=lambda m: err.print(m, markup=False),
        reranker=reranker,
    )  # fmt: skip
    lines = [
        f"{report.dataset}: {report.documents} documents, {report.queries} test queries, "
        f"{report.model}; dense at EF_RUNTIME {report.ef_runtime} (tuned: recall@10 "
        f"{report.tune_recall:.3f} held out)",
        "",
        "| run | nDCG@10 | Recall@100 | MRR@10 |",
        "|---|---|---|---|",
    ]
    for name, m in report.rows.items():
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} |")
    if report.rerank_ms:
        added = ", ".join(f"{m} {ms:.2f} ms" for m, ms in report.rerank_ms.items())
        lines += ["", f"rerank {report.reranker}: added per query (the rerank step alone): {added}"]
    text = "\n".join(lines)
    out.print(text, markup=False, soft_wrap=True)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        (out_dir / "report.md").write_text(text + "\n")


@bench_app.command("filtered")
def bench_filtered(
    n: Annotated[int, typer.Option(help="Documents in the index")] = 20_000,
    dims: Annotated[int, typer.Option(help="Vector dimensions")] = 384,
    queries: Annotated[int, typer.Option(help="Queries per filter and method")] = 300,
    budget: Annotated[
        float, typer.Option(help="Seconds a method may spend on one filter before it stops")
    ] = 3.0,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the report goes")] = Path(
        "bench-out/filtered"
    ),
    url: UrlOpt = None,
) -> None:
    """Pre-filtered KNN at selectivities 0.1% to 90% (TAG, NUMERIC, both): the planner
    against RediSearch's own choice and each policy forced, with recall@10 against exact
    filtered search (benchmarks/filtered.py runs the same)."""
    from redvec.bench.filtered import run_filtered, summary_lines, write_json, write_plot

    if n < 1000 or dims < 1 or queries < 10:
        raise ValidationError("--n must be at least 1000, --dims positive, --queries at least 10")
    report = run_filtered(
        connect(url), n=n, dims=dims, queries=queries, budget_s=budget,
        log=lambda m: err.print(m, markup=False),
    )  # fmt: skip
    for line in summary_lines(report):
        out.print(line, markup=False, soft_wrap=True)
    files = [write_json(report, out_dir / "results.json")]
    plot = write_plot(report, out_dir / "filtered.svg")
    if plot is not None:
        files.append(plot)
    err.print("wrote " + ", ".join(str(f) for f in files))
