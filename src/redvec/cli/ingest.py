"""`redvec ingest`, `enqueue`, `worker`, `reembed` and `tune`: getting documents in."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from redvec.cli.common import (
    BaseUrlOpt,
    JsonOpt,
    ModelOpt,
    ProviderOpt,
    UrlOpt,
    VariantOpt,
    app,
    err,
    out,
    print_json,
    print_table,
)
from redvec.connection import connect
from redvec.errors import ConfigError, ValidationError
from redvec.index import SearchIndex


def _record_text_fields(idx: SearchIndex, spec: dict[str, Any], ingestor: Any) -> None:
    """Record the fields an ingest or worker run embedded, once it has written with them
    (a run that wrote nothing, say with a wrong --text-field, leaves the record as it
    was). A failure here (Redis gone) must not hide the run's own error: the next run
    records them."""
    import contextlib

    import redis

    from redvec.errors import RedisUnavailableError
    from redvec.providers import remember_provider

    if ingestor.summary.written:
        with contextlib.suppress(redis.RedisError, RedisUnavailableError):
            remember_provider(idx, spec, ingestor.fields.text_fields or [])


def _recorded_text_fields(idx: SearchIndex) -> list[str] | None:
    """The text fields `redvec ingest` recorded for the index, else None (the schema's
    TEXT fields): the worker embeds jobs as the ingested documents were."""
    stored = idx.get_setting("text_fields")
    return list(json.loads(stored)) if stored else None


# -- ingest ------------------------------------------------------------------------------


@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A .jsonl, .json or .csv file, or a folder")],
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    model_variant: VariantOpt = None,
    base_url: BaseUrlOpt = None,
    id_field: Annotated[str, typer.Option(help="Field holding the document id")] = "id",
    text_field: Annotated[
        list[str] | None,
        typer.Option(
            "--text-field",
            help="Field(s) to embed (repeatable; default: the schema's TEXT fields)",
        ),
    ] = None,
    metadata_field: Annotated[
        list[str] | None,
        typer.Option("--metadata-field", help="Keep only these fields (default: all)"),
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Split text into chunks of N chars")
    ] = None,
    chunk_overlap: Annotated[int, typer.Option(help="Characters shared by adjacent chunks")] = 0,
    batch_size: Annotated[int, typer.Option(help="Texts embedded per batch")] = 64,
    rejects: Annotated[
        Path | None, typer.Option(help="Write bad records here (JSONL, with line and reason)")
    ] = None,
    delete_missing: Annotated[
        bool,
        typer.Option(
            help="Delete documents that are no longer in the source (never one whose id the "
            "source has, rejected or not; refused when the run read nothing or rejected most)"
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --delete-missing: delete even when refused")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="With --delete-missing: list what would be deleted"),
    ] = False,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Folders: read hidden files and directories too")
    ] = False,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Embed and write documents; a re-run skips unchanged documents and embeds nothing.

    Exits 1 when every record read was rejected, or when --delete-missing refuses."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from redvec.ingest import FieldMap, Ingestor, read_records
    from redvec.ingest.pipeline import DeleteRefused
    from redvec.ingest.readers import ReadStats
    from redvec.providers import check_provider, provider_for_index, remember_provider

    if (force or dry_run) and not delete_missing:
        raise ConfigError("--force and --dry-run go with --delete-missing")
    idx = SearchIndex.open(connect(url), index)
    embedder, spec = provider_for_index(idx, provider, model, base_url, model_variant)
    check_provider(idx, embedder)
    fields = FieldMap(id_field, text_field or None, metadata_field)
    read_stats = ReadStats()
    records = read_records(path, stats=read_stats, hidden=hidden)
    reject_file = rejects.open("w") if rejects else None
    progress = Progress(
        TextColumn("[bold]ingest"),
        BarColumn(bar_width=None),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=as_json,
        disable=as_json,
    )
    state: dict[str, Any] = {"start": time.monotonic(), "task": None}

    def show(summary: Any) -> None:
        elapsed = max(time.monotonic() - state["start"], 1e-9)
        chunks = f", {summary.chunks_embedded} chunks embedded" if summary.chunks_embedded else ""
        progress.update(
            state["task"],
            description=(
                f"{summary.read} read, {summary.written} written, {summary.skipped} "
                f"unchanged, {summary.rejected} rejected{chunks}  "
                f"{summary.read / elapsed:.0f} docs/s"
            ),
        )

    ingestor: Ingestor | None = None
    try:
        ingestor = Ingestor(
            idx,
            embedder,
            fields=fields,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            batch_size=batch_size,
            rejects=reject_file,
            on_progress=show,
        )  # checks the provider's dimension before anything is shown or written
        # The provider now (a re-run after an interruption finds it); the text fields it
        # embeds once something was written with them, so a run that rejects everything
        # (a wrong --text-field) leaves the index's record as it was.
        remember_provider(idx, spec)
        with progress:
            state["task"] = progress.add_task("", total=None)
            try:
                summary = ingestor.run(
                    records, delete_missing=delete_missing, force=force, dry_run=dry_run
                )
            finally:
                _record_text_fields(idx, spec, ingestor)
            show(summary)
    except DeleteRefused as e:
        s = e.summary
        err.print(
            f"read {s.read}, written {s.written}, unchanged {s.skipped}, rejected {s.rejected}",
            markup=False,
        )
        raise
    except KeyboardInterrupt:
        if ingestor is None:
            raise typer.Exit(130) from None
        s = ingestor.summary
        err.print(
            f"interrupted: {s.written} written, {s.skipped} unchanged, {s.rejected} rejected "
            f"so far; run the same command again to finish (written documents are skipped)"
        )
        raise typer.Exit(130) from None
    finally:
        if reject_file:
            reject_file.close()
    everything_rejected = summary.read > 0 and summary.rejected == summary.read
    if as_json:
        print_json(
            {
                **summary.to_dict(),
                "skipped_files": read_stats.skipped,
                **({"would_delete": ingestor.would_delete} if dry_run else {}),
            }
        )
    else:
        out.print(
            f"read {summary.read}, written {summary.written} ({summary.chunks_written} chunks), "
            f"unchanged {summary.skipped}, rejected {summary.rejected}"
            + (f" ({summary.duplicates} duplicate ids)" if summary.duplicates else "")
            + (f" (see {rejects})" if rejects and summary.rejected else "")
            + f"; embedded {summary.embedded}, cache hits {summary.cache_hits}"
            + (f"; deleted {summary.deleted}" if delete_missing and not dry_run else ""),
            markup=False,
        )
        if dry_run:
            gone = ingestor.would_delete
            out.print(f"--dry-run: would delete {len(gone)} documents", markup=False)
            for doc_id in gone:
                out.print(f"  {doc_id}", markup=False)
        for reason, count in sorted(read_stats.skipped.items()):
            err.print(f"skipped {count} entries: {reason}", markup=False)
    if summary.truncated:
        err.print(
            f"warning: {summary.truncated} texts were longer than the model reads (its "
            f"sequence length) and only their beginning was embedded; use --chunk-size "
            f"(e.g. --chunk-size 1000 --chunk-overlap 100) to embed all of them",
            markup=False,
        )
    if everything_rejected:
        hint = ""
        assert ingestor is not None and ingestor.fields.text_fields is not None
        hint = f" (the text fields embedded were: {', '.join(ingestor.fields.text_fields)})"
        raise ValidationError(
            f"every one of the {summary.read} records was rejected{hint}"
            + (f"; see {rejects}" if rejects else "; --rejects FILE lists each with its reason")
        )


@app.command()
def enqueue(
    path: Annotated[Path, typer.Argument(help="A .jsonl, .json or .csv file, or a folder")],
    stream: Annotated[str, typer.Option(help="Redis Stream the workers read")],
    rejects: Annotated[Path | None, typer.Option(help="Write unreadable records here")] = None,
    url: UrlOpt = None,
) -> None:
    """Hand documents to the stream workers (`redvec worker`)."""
    from redvec.ingest import read_records
    from redvec.ingest.worker import enqueue as add

    client = connect(url)
    good: list[dict[str, Any]] = []
    bad = 0
    with rejects.open("w") if rejects else _null() as reject_file:
        for record in read_records(path):
            if record.data is None:
                bad += 1
                if reject_file is not None:
                    reject_file.write(
                        json.dumps(
                            {"source": record.source, "line": record.line, "reason": record.error}
                        )
                        + "\n"
                    )
            else:
                good.append(record.data)
    added = add(client, stream, good)
    out.print(f"enqueued {added} documents on '{stream}'" + (f"; {bad} unreadable" if bad else ""))


def _null() -> Any:
    import contextlib

    return contextlib.nullcontext(None)


@app.command()
def worker(
    stream: Annotated[str, typer.Option(help="Redis Stream to read")],
    group: Annotated[str, typer.Option(help="Consumer group")],
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    model_variant: VariantOpt = None,
    base_url: BaseUrlOpt = None,
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default host-pid)")] = None,
    id_field: Annotated[str, typer.Option(help="Field holding the document id")] = "id",
    text_field: Annotated[
        list[str] | None,
        typer.Option(
            "--text-field",
            help="Field to embed when a job has no vector (repeat; default: the schema's "
            "TEXT fields)",
        ),
    ] = None,
    chunk_size: Annotated[
        int | None, typer.Option(help="Split texts into chunks of this many characters")
    ] = None,
    chunk_overlap: Annotated[int, typer.Option(help="Characters shared by adjacent chunks")] = 0,
    batch_size: Annotated[int, typer.Option(help="Entries per batch")] = 64,
    claim_idle_ms: Annotated[
        int, typer.Option(help="Claim entries of dead workers idle this long")
    ] = 30_000,
    max_attempts: Annotated[int, typer.Option(help="Deliveries before dead-lettering")] = 5,
    dead_letter: Annotated[str | None, typer.Option(help="Default: <stream>:dead")] = None,
    exit_when_idle: Annotated[bool, typer.Option(help="Exit once the stream is drained")] = False,
    url: UrlOpt = None,
) -> None:
    """Embed and write documents from a Redis Stream; SIGTERM finishes the batch, then exits."""
    import logging

    from redvec.ingest import FieldMap
    from redvec.ingest.worker import StreamWorker
    from redvec.providers import check_provider, provider_for_index, remember_provider

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    idx = SearchIndex.open(connect(url), index)
    embedder, spec = provider_for_index(idx, provider, model, base_url, model_variant)
    check_provider(idx, embedder)
    w = StreamWorker(
        idx,
        embedder,
        stream=stream,
        group=group,
        consumer=consumer,
        fields=FieldMap(id_field, text_field or _recorded_text_fields(idx)),
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        batch_size=batch_size,
        claim_idle_ms=claim_idle_ms,
        max_attempts=max_attempts,
        dead_letter=dead_letter,
    )
    # The provider now; the text fields once this worker has written with them (as
    # `redvec ingest` does), so a later worker or search embeds the same fields.
    remember_provider(idx, spec)
    err.print(f"worker {w.consumer} reading '{stream}' as group '{group}' into '{index}'")
    try:
        stats = w.run(idle_exit=exit_when_idle)
    finally:
        _record_text_fields(idx, spec, w.ingestor)
    s = w.summary
    err.print(
        f"worker {w.consumer} stopped: {stats.acked} acknowledged ({stats.claimed} claimed from "
        f"others), {s.written} written, {s.skipped} unchanged, {stats.dead_lettered} "
        f"dead-lettered, {stats.failures} failed batches"
    )


@app.command()
def reembed(
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    provider: Annotated[str, typer.Option("--provider", help="local, openai or cohere")],
    model: ModelOpt = None,
    model_variant: VariantOpt = None,
    base_url: BaseUrlOpt = None,
    text_field: Annotated[
        list[str] | None,
        typer.Option("--text-field", help="Default: the fields the last ingest embedded"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Documents re-embedded per batch")] = 64,
    url: UrlOpt = None,
) -> None:
    """Re-compute every vector with PROVIDER; resumable; split storage rewrites no JSON."""
    from redvec.ingest.reembed import reembed as run_reembed
    from redvec.providers import provider_for_index, remember_provider, remembered_text_fields

    idx = SearchIndex.open(connect(url), index)
    embedder, spec = provider_for_index(idx, provider, model, base_url, model_variant)
    fields = text_field or remembered_text_fields(idx)
    with err.status("re-embedding") as status:
        summary = run_reembed(
            idx,
            embedder,
            fields,
            batch_size=batch_size,
            on_progress=lambda s: status.update(f"re-embedding: {s.updated} of {s.seen} updated"),
        )
    remember_provider(idx, spec, fields)
    out.print(
        f"re-embedded {summary.updated} documents with {embedder.name}"
        + (f" ({summary.already_done} done by an earlier run)" if summary.already_done else "")
        + (
            f"; {summary.without_text} had no text in {', '.join(fields)}"
            if summary.without_text
            else ""
        )
    )


@app.command()
def tune(
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    target_recall: Annotated[float, typer.Option(help="Recall@k to reach")] = 0.95,
    k: Annotated[int, typer.Option("-k", help="The k of recall@k")] = 10,
    sample: Annotated[
        int, typer.Option(help="Queries in each of the tuning and held-out samples")
    ] = 200,
    record: Annotated[bool, typer.Option(help="Keep the result as the index's default")] = True,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Find the smallest EF_RUNTIME that meets --target-recall; searches then use it."""
    from redvec.bench.tune import tune as run_tune

    idx = SearchIndex.open(connect(url), index)
    with err.status("measuring recall against exact search"):
        result = run_tune(idx, target_recall, k=k, sample=sample, record=record)
    if as_json:
        print_json(
            {
                "ef_runtime": result.ef_runtime,
                "target": result.target,
                "tuning_recall": result.tuning_recall,
                "holdout_recall": result.holdout_recall,
                "curve": [vars(p) for p in result.curve],
            }
        )
        return
    print_table(
        ["EF_RUNTIME", f"recall@{k}", "p50 ms"],
        [[p.ef_runtime, f"{p.recall:.3f}", f"{p.p50_ms:.2f}"] for p in result.curve],
        right={0, 1, 2},
    )
    out.print(
        f"EF_RUNTIME {result.ef_runtime}: recall@{k} {result.tuning_recall:.3f} on the tuning "
        f"sample, {result.holdout_recall:.3f} held out (target {result.target})"
        + ("; recorded as the index default" if record else "")
    )
