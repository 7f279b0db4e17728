"""The ``redvec`` command: each verb a few lines over the Python API.

Errors redvec raises on purpose print as one line on stderr with exit code 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console

from redvec.cluster import (
    ClusterIndex,
    LocalCluster,
    connect_cluster,
    masters,
    read_cluster_state,
)
from redvec.connection import connect, inspect_server, redact_url, resolve_url
from redvec.errors import ConfigError, RedvecError, ValidationError
from redvec.index import SearchIndex, list_indexes
from redvec.query import SearchMode
from redvec.schema import load_schema
from redvec.server import EmbeddedServer, read_state
from redvec.settings import Settings
from redvec.tenants import create_tenant, create_tenant_index, drop_tenant, list_tenants

app = typer.Typer(
    help="Vector search and recommendations on Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click-style help: Typer's rich panels print a type such as <bool> or <str>
    # beside every option, flags and --help included; metavars are set in command().
    rich_markup_mode=None,
)
server_app = typer.Typer(help="Run the embedded Redis with RediSearch + RedisJSON.")
app.add_typer(server_app, name="server")
index_app = typer.Typer(help="Create, inspect, list and drop search indexes.", no_args_is_help=True)
app.add_typer(index_app, name="index")

out = Console()
err = Console(stderr=True)

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Redis URL (default: REDIS_URL, else the embedded one)")
]
DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="Data directory of the embedded server (default: REDVEC_DATA_DIR)"),
]


JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of text for people")
]
IndexName = Annotated[str, typer.Argument(help="Index name")]
TenantName = Annotated[str, typer.Argument(help="Tenant name")]


def _data_dir(path: Path | None) -> Path:
    return (path or Settings.from_env().data_dir).absolute()


def print_json(value: Any) -> None:
    out.print_json(json.dumps(value, default=str))


@server_app.command("start")
def server_start(
    port: Annotated[
        int | None, typer.Option(help="Port (default: REDVEC_PORT, else a free one)")
    ] = None,
    data_dir: DirOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    password: Annotated[
        str | None, typer.Option(help="Require this password (default: REDVEC_PASSWORD)")
    ] = None,
    appendfsync: Annotated[
        str | None,
        typer.Option(help="always, everysec or no (default: REDVEC_APPENDFSYNC, else everysec)"),
    ] = None,
    foreground: Annotated[bool, typer.Option(help="Stay attached; Ctrl-C stops it")] = False,
    cluster: Annotated[
        int | None,
        typer.Option(
            help="Start a local Redis Cluster of this many masters (in DIR/node-<i>), "
            "slots split evenly"
        ),
    ] = None,
) -> None:
    """Start the embedded Redis and return once it answers with both modules."""
    settings = Settings.from_env(port=port, password=password, appendfsync=appendfsync)
    if cluster is not None:
        if foreground or settings.password:
            raise ConfigError("--cluster takes neither --foreground nor a password")
        ports = None if port is None else [port + i for i in range(cluster)]
        local = LocalCluster(_data_dir(data_dir), cluster, host=host, ports=ports).start()
        for node in local.nodes:
            out.print(f"cluster node: {node.url} (pid {node.pid}, data in {node.data_dir})")
        out.print(f"redvec cluster started: {cluster} masters; REDIS_URL={local.url}")
        return
    server = EmbeddedServer(
        _data_dir(data_dir),
        port=settings.port,
        host=host,
        password=settings.password,
        appendfsync=settings.appendfsync,
    )
    if foreground:
        raise typer.Exit(server.run_foreground())
    server.start()
    out.print(
        f"redvec server started: {redact_url(server.url)} "
        f"(pid {server.pid}, data in {server.data_dir})"
    )


@server_app.command("status")
def server_status(
    data_dir: DirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """URL, pid, versions, memory, and indexing progress of every index."""
    directory = _data_dir(data_dir)
    state = read_state(directory)
    nodes = read_cluster_state(directory)
    if state is None and nodes is not None:
        shards = masters(connect_cluster(nodes[0].url))
        if as_json:
            print_json({"cluster": [{**s.__dict__, "slots": s.slots} for s in shards]})
            return
        for s in shards:
            ranges = ", ".join(f"{lo}-{hi}" for lo, hi in s.slots)
            out.print(f"master {s.address} ({s.node_id[:8]}): slots {ranges}")
        return
    if state is None:
        err.print(f"no redvec server is running on {directory}")
        raise typer.Exit(1)
    report = inspect_server(connect(state.url, check_modules=False), state.url)
    indexes = [
        {
            "name": p.name,
            "docs": p.num_docs,
            "percent_indexed": p.percent_indexed,
            "indexing": p.indexing,
            "ready": p.ready,
        }
        for p in report.indexes
    ]
    if as_json:
        print_json(
            {
                "url": report.url,
                "pid": state.pid,
                "redis": report.redis_version,
                "modules": report.modules,
                "used_memory": report.used_memory_human,
                "indexes": indexes,
            }
        )
        return
    out.print(f"url:        {report.url}")
    out.print(f"pid:        {state.pid}")
    out.print(f"data dir:   {directory}")
    out.print(f"redis:      {report.redis_version}")
    out.print(f"search:     {report.modules.get('search', 'MISSING')}")
    out.print(f"ReJSON:     {report.modules.get('ReJSON', 'MISSING')}")
    out.print(f"memory:     {report.used_memory_human}")
    busy = [i for i in indexes if not i["ready"]]
    out.print(
        f"indexes:    {len(indexes)}"
        + (f", {len(busy)} still indexing" if busy else ", all fully indexed")
    )
    for i in indexes:
        out.print(
            f"  {i['name']}: {i['docs']} docs, {i['percent_indexed']:.0%} indexed"
            + (" (indexing)" if i["indexing"] else "")
        )


@server_app.command("stop")
def server_stop(data_dir: DirOpt = None) -> None:
    """SHUTDOWN the server (persisting its data), escalating to signals if it hangs."""
    directory = _data_dir(data_dir)
    if read_state(directory) is None and read_cluster_state(directory) is not None:
        local = LocalCluster.attach(directory)
        local.stop()
        out.print(f"redvec cluster stopped ({len(local.nodes)} masters)")
        return
    server = EmbeddedServer.attach(directory)
    pid = server.pid
    server.stop()
    out.print(f"redvec server stopped (pid {pid})")


@app.command()
def doctor(url: UrlOpt = None) -> None:
    """Check that Redis answers and has the search and JSON modules; print versions."""
    resolved = resolve_url(url)
    client = connect(resolved, check_modules=False)
    report = inspect_server(client, resolved)
    out.print(f"url:    {report.url}")
    out.print(f"redis:  {report.redis_version}")
    for name in ("search", "ReJSON"):
        out.print(f"{name + ':':<7} {report.modules.get(name, 'MISSING')}")
    connect(resolved)  # raises the one clear message when a module is missing
    out.print("ok: redvec can use this Redis")


# -- indexes -----------------------------------------------------------------------------


@index_app.command("create")
def index_create(
    schema_file: Annotated[Path, typer.Argument(help="Schema file (YAML or JSON)")],
    overwrite: Annotated[
        bool, typer.Option(help="Replace an index of the same name (documents are kept)")
    ] = False,
    tenant: Annotated[
        str | None,
        typer.Option(help="Create it inside this tenant: idx:{TENANT}:NAME over PREFIX{TENANT}:"),
    ] = None,
    url: UrlOpt = None,
) -> None:
    """FT.CREATE an index from a declarative schema file."""
    schema = load_schema(schema_file)
    if tenant:
        schema = create_tenant_index(connect(url), tenant, schema, overwrite=overwrite).schema
    else:
        SearchIndex.create(connect(url), schema, overwrite=overwrite)
    out.print(f"created index '{schema.name}' on {schema.storage} keys under '{schema.prefix}'")


@index_app.command("info")
def index_info(
    name: IndexName,
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Documents, indexing progress, vector index memory, failures and schema."""
    info = SearchIndex.open(connect(url), name).info()
    if as_json:
        print_json(info.to_dict())
        return
    out.print(f"index:        {info.name}")
    out.print(f"storage:      {info.schema.storage} under '{info.schema.prefix}'")
    out.print(f"documents:    {info.num_docs}")
    out.print(
        f"indexed:      {info.percent_indexed:.0%}" + (" (indexing)" if info.indexing else "")
    )
    out.print(f"failures:     {info.hash_indexing_failures}")
    out.print(f"vector index: {info.vector_index_mb:.2f} MB")
    out.print(f"total index:  {info.total_index_mb:.2f} MB")
    for f in info.schema.to_dict()["fields"]:
        details = ", ".join(f"{k}={v}" for k, v in f.items() if k not in ("name", "type"))
        out.print(f"  {f['name']}: {f['type']}" + (f" ({details})" if details else ""))


@index_app.command("list")
def index_list(as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Every index with its document count."""
    client = connect(url)
    rows = [SearchIndex.open(client, n).info() for n in list_indexes(client)]
    if as_json:
        print_json(
            [
                {
                    "name": i.name,
                    "num_docs": i.num_docs,
                    "storage": i.schema.storage,
                    "percent_indexed": i.percent_indexed,
                }
                for i in rows
            ]
        )
        return
    if not rows:
        out.print("no indexes")
    for i in rows:
        out.print(
            f"{i.name}\t{i.num_docs} docs\t{i.schema.storage}\t{i.percent_indexed:.0%} indexed"
        )


@index_app.command("drop")
def index_drop(
    name: IndexName,
    delete_docs: Annotated[
        bool, typer.Option("--delete-docs", help="Also delete every document of the index")
    ] = False,
    url: UrlOpt = None,
) -> None:
    """Drop an index; its documents stay unless --delete-docs."""
    SearchIndex.open(connect(url), name).drop(delete_documents=delete_docs)
    out.print(f"dropped index '{name}'" + (" and its documents" if delete_docs else ""))


# -- tenants -----------------------------------------------------------------------------

tenant_app = typer.Typer(
    help="Tenants: their indexes and keys carry a hash tag, so each lives on one shard.",
    no_args_is_help=True,
)
app.add_typer(tenant_app, name="tenant")


@tenant_app.command("create")
def tenant_create(name: TenantName, url: UrlOpt = None) -> None:
    """Register a tenant; then `redvec index create SCHEMA --tenant NAME`."""
    create_tenant(connect(url), name)
    out.print(f"created tenant '{name}': indexes idx:{{{name}}}:..., keys PREFIX{{{name}}}:...")


@tenant_app.command("list")
def tenant_list(as_json: JsonOpt = False, url: UrlOpt = None) -> None:
    """Every tenant with its indexes and document count."""
    tenants = list_tenants(connect(url))
    if as_json:
        print_json([t.to_dict() for t in tenants])
        return
    if not tenants:
        out.print("no tenants")
    for t in tenants:
        out.print(f"{t.name}\t{t.documents} docs\t{', '.join(t.indexes) or 'no indexes'}")


@tenant_app.command("drop")
def tenant_drop(
    name: TenantName,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    url: UrlOpt = None,
) -> None:
    """Drop a tenant with its indexes and every key in its hash tag."""
    if not yes and not typer.confirm(f"drop tenant '{name}' and all of its data?"):
        raise typer.Exit(1)
    indexes, keys = drop_tenant(connect(url), name)
    out.print(f"dropped tenant '{name}': {len(indexes)} indexes, {keys} keys")


# -- cluster -----------------------------------------------------------------------------

cluster_app = typer.Typer(
    help="Indexes across a Redis Cluster: one per shard, searched in parallel.",
    no_args_is_help=True,
)
app.add_typer(cluster_app, name="cluster")
ClusterUrl = Annotated[
    str, typer.Option("--url", envvar="REDIS_URL", help="Any cluster node's URL (or REDIS_URL)")
]


@cluster_app.command("create-index")
def cluster_create_index(
    schema_file: Annotated[Path, typer.Argument(help="A YAML or JSON schema file")],
    url: ClusterUrl,
) -> None:
    """Create an index over the whole cluster (or, for a tenant's tagged name, on its shard)."""
    idx = ClusterIndex.create(connect_cluster(url), load_schema(schema_file))
    where = ", ".join(s.name for s in idx.shards)
    out.print(f"created index '{idx.name}' ({idx.mode}): {where}")


@cluster_app.command("info")
def cluster_info(name: IndexName, url: ClusterUrl, as_json: JsonOpt = False) -> None:
    """How the index is laid out: its mode, its shard indexes and their documents."""
    idx = ClusterIndex.open(connect_cluster(url), name)
    shards: list[dict[str, Any]] = [
        {"index": s.name, "node": str(s.client.connection_pool.connection_kwargs.get("port")),
         "documents": s.count()}
        for s in idx.shards
    ]  # fmt: skip
    if as_json:
        print_json({"name": idx.name, "mode": idx.mode, "shards": shards})
        return
    out.print(f"{idx.name}: {idx.mode}, {sum(int(s['documents']) for s in shards)} documents")
    for sh in shards:
        out.print(f"  {sh['index']} on port {sh['node']}: {sh['documents']} documents")


@cluster_app.command("replan")
def cluster_replan(name: IndexName, url: ClusterUrl) -> None:
    """After slots moved or masters were added: one shard index per master again."""
    idx = ClusterIndex.open(connect_cluster(url), name)
    created = idx.replan()
    out.print(f"'{name}': " + (f"created {', '.join(created)}" if created else "plan unchanged"))


@cluster_app.command("search")
def cluster_search(
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    vector_file: Annotated[Path, typer.Option(help="Query vector as a .npy file")],
    url: ClusterUrl,
    k: Annotated[int, typer.Option("-k", help="How many results")] = 10,
    filter_expr: Annotated[
        str | None, typer.Option("--filter", help="e.g. 'cat:a price<9'")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """KNN over every shard in parallel, merged by distance."""
    idx = ClusterIndex.open(connect_cluster(url), index)
    result = idx.search(_load_vector(vector_file), k, filter=filter_expr)
    print_hits(result.hits, as_json)


# -- search ------------------------------------------------------------------------------


def _load_vector(path: Path) -> Any:
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValidationError(f"cannot read vector file {path}: {e}") from None
    return data.reshape(-1) if data.ndim == 2 and data.shape[0] == 1 else data


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
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """KNN with --vector-file, full-text with --text, hybrid (RRF) with both."""
    from redvec.providers import query_embedder
    from redvec.query import resolve_mode

    if vector_file is None and text_query is None:
        raise ValidationError("give --vector-file (KNN), --text (full-text), or both (hybrid)")
    idx = SearchIndex.open(connect(url), index)
    vector = _load_vector(vector_file) if vector_file is not None else None
    chosen = resolve_mode(
        mode,
        index=index,
        has_text=text_query is not None,
        has_vector=vector is not None,
        can_embed=idx.get_setting("provider") is not None,
        ef_runtime=ef_runtime,
    )
    if chosen is SearchMode.BM25:
        assert text_query is not None
        result = idx.text_search(text_query, k, filter=filter_expr)
    else:
        if vector is None:
            embedder = query_embedder(idx)
            assert embedder is not None and text_query is not None  # resolve_mode checked
            vector = embedder.embed([text_query])[0]
        if chosen is SearchMode.HYBRID:
            assert text_query is not None
            result = idx.hybrid_search(
                text_query, vector, k, filter=filter_expr, ef_runtime=ef_runtime
            )
        else:
            result = idx.search(vector, k, filter=filter_expr, ef_runtime=ef_runtime)
    if not as_json and mode is None and chosen is SearchMode.BM25:
        err.print(
            f"mode bm25: index '{index}' has no embedding provider recorded (--mode to choose)"
        )
    print_hits(result.hits, as_json)


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


def print_hits(hits: list[Any], as_json: bool) -> None:
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("no results")
    for rank, h in enumerate(hits, 1):
        dist = "" if h.distance is None else f"  distance {h.distance:.4f}"
        fields = {k: v for k, v in h.fields.items() if not isinstance(v, list | dict)}
        summary = "  ".join(f"{k}={str(v)[:60]!r}" for k, v in list(fields.items())[:4])
        out.print(f"{rank:>3}. {h.id}  score {h.score:.4f}{dist}  {summary}", markup=False)


# -- ingest ------------------------------------------------------------------------------

ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", help="local, openai or cohere (default: the index's, else local)"),
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model name for hosted providers")]
VariantOpt = Annotated[
    str | None,
    typer.Option(
        "--model-variant",
        help="Local model weights: fp32 (exact, the default) or int8 (1.6-1.9x faster, "
        "mean cosine 0.995 to fp32); recorded with the index",
        metavar="fp32|int8",
    ),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Base URL of an OpenAI-compatible or Cohere API")
]


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
    out.print(f"{'EF_RUNTIME':>10}  recall@{k}  p50 ms")
    for p in result.curve:
        out.print(f"{p.ef_runtime:>10}  {p.recall:>9.3f}  {p.p50_ms:>6.2f}")
    out.print(
        f"EF_RUNTIME {result.ef_runtime}: recall@{k} {result.tuning_recall:.3f} on the tuning "
        f"sample, {result.holdout_recall:.3f} held out (target {result.target})"
        + ("; recorded as the index default" if record else "")
    )


apikey_app = typer.Typer(help="API keys for the HTTP service.", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    url: UrlOpt = None,
    api_keys: Annotated[
        Path | None,
        typer.Option(help="API key file (default: REDVEC_API_KEYS_FILE or REDVEC_API_KEYS)"),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve without API keys (local use)")
    ] = False,
    max_body: Annotated[
        int | None, typer.Option(help="Largest request body in bytes (default 8 MiB)")
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="Server log level: critical, error, warning, info, debug")
    ] = "info",
    server: Annotated[
        str,
        typer.Option(
            help="ASGI server: granian (default; 17% more searches/s than uvicorn here, "
            "see docs/api.md) or uvicorn"
        ),
    ] = "granian",
) -> None:
    """Serve the HTTP API (/v1/...), the search page at /, /healthz, /readyz, /metrics."""
    import os

    if server not in ("granian", "uvicorn"):
        raise ConfigError(f"--server must be granian or uvicorn, got {server!r}")
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError(
            f"--log-level must be critical, error, warning, info or debug, got {log_level!r}"
        )
    try:
        import importlib

        importlib.import_module(server)
        import litestar  # noqa: F401

        from redvec.api.service import ServiceConfig
    except ImportError as e:
        raise ConfigError(
            f"the HTTP service needs the 'serve' extra ({e.name} is missing): "
            f"pip install 'redvec[serve]'"
        ) from None

    _refuse_port_in_use(host, port)
    settings = Settings.from_env()
    keys = ServiceConfig.auth_for(
        host,
        api_keys or settings.api_keys_file,
        None if no_auth else settings.api_keys,
        no_auth,
    )
    resolved = resolve_url(url, settings)
    os.environ["REDIS_URL"] = resolved
    os.environ.pop("REDVEC_API_KEYS_FILE", None)
    if keys is None:
        os.environ.pop("REDVEC_API_KEYS", None)
    else:
        os.environ["REDVEC_API_KEYS"] = keys.to_json()
    if max_body is not None:
        os.environ["REDVEC_MAX_BODY_BYTES"] = str(max_body)
    try:
        connect(resolved)
    except RedvecError as e:
        err.print(f"warning: {e}; serving anyway, /readyz answers 503 until it is fixed")
    auth = "off" if keys is None else f"on ({len(keys.keys)} keys)"
    err.print(f"redvec serving on http://{host}:{port} (Redis {redact_url(resolved)}, auth {auth})")
    target = "redvec.api:create_app_from_env"
    if server == "uvicorn":
        import uvicorn

        uvicorn.run(
            target,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
        return
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels

    Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        loop=Loops.uvloop,
        log_level=LogLevels(log_level),
        log_access=False,
    ).serve()


def _refuse_port_in_use(host: str, port: int) -> None:
    """Granian binds with SO_REUSEPORT, so a second service on a taken port would start
    and the kernel would split requests between the two (one keyed, one not, say):
    bind once without it first, and refuse a port another process holds."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"cannot bind to {host}:{port}: {e.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # SO_REUSEADDR: connections in TIME_WAIT from a service just stopped do not count;
        # on Linux a listening socket on the port still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is already in use (another `redvec serve`?); "
                    f"stop that process or choose another --port"
                ) from None
            raise ConfigError(f"cannot bind to {host}:{port}: {e.strerror}") from None


@apikey_app.command("create")
def apikey_create(
    key_id: Annotated[str, typer.Argument(help="A name for the key (for logs and revocation)")],
    file: Annotated[Path, typer.Option(help="Key file to add the key's digest to")],
    scope: Annotated[
        list[str] | None, typer.Option(help="read and/or write (repeat the option; default read)")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Bind the key to one tenant")] = None,
) -> None:
    """Make a key, add its SHA-256 digest to FILE, print the key once (it is not stored)."""
    from redvec.api.auth import ApiKey, KeyRing, digest, new_key, parse_key

    scopes = sorted(set(scope or ["read"]))
    ring = KeyRing.from_file(file) if file.exists() else KeyRing()
    key = new_key()
    entry = {"id": key_id, "sha256": digest(key), "scopes": scopes}
    if tenant:
        entry["tenant"] = tenant
    parsed: ApiKey = parse_key(entry, f"key '{key_id}'")
    ring.add(parsed)
    file.write_text(ring.to_json())
    file.chmod(0o600)
    out.print(key, markup=False, highlight=False)
    err.print(
        f"added '{key_id}' ({', '.join(sorted(parsed.scopes))}) to {file}; keep the key, "
        f"it is shown only once"
    )


recommend_app = typer.Typer(
    help="Recommendations: users as interest vectors.", no_args_is_help=True
)
app.add_typer(recommend_app, name="recommend")
eval_app = typer.Typer(help="Evaluate redvec on public datasets.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

RecName = Annotated[str, typer.Option("--name", help="Recommender name (key prefix)")]


@recommend_app.command("user")
def recommend_user(
    user_id: Annotated[str, typer.Argument(help="User id")],
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many items")] = 10,
    neighbours: Annotated[
        int, typer.Option(min=1, max=1000, help="Nearest users to draw from (K)")
    ] = 50,
    filter: Annotated[
        str | None, typer.Option(help='Filter over users, e.g. "labels:Comedy time>=880000000"')
    ] = None,
    name: RecName = "rec",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Items for a user, from what their nearest neighbours liked."""
    from redvec.recommend import Recommender

    rec = Recommender(connect(url), name)
    result = rec.recommend(user_id, n, neighbours=neighbours, filter=filter)
    if as_json:
        print_json(result.to_dict())
        return
    if result.fallback:
        why = {
            "no_interest_vector": f"user {user_id} has liked nothing yet (no interest vector)",
            "no_neighbours": "no other user matches the filter"
            if filter
            else "no other user has an interest vector yet",
            "nothing_new": f"the nearest users liked nothing that user {user_id} has not",
        }.get(result.reason or "", "no recommendation from neighbours")
        out.print(f"{why}: the most popular items instead")
    titles = _titles(rec, [r.item for r in result.items])
    for r in result.items:
        why = f"  (from users {', '.join(r.because)})" if r.because else ""
        out.print(f"{r.item:>8}  {r.score:8.3f}  {titles.get(r.item, '')}{why}", markup=False)


def _titles(rec: Any, items: list[str]) -> dict[str, str]:
    pipe = rec.client.pipeline(transaction=False)
    for i in items:
        pipe.hget(f"{rec.name}:item:{i}", "title")
    return {i: (t or b"").decode() for i, t in zip(items, pipe.execute(), strict=True)}


@recommend_app.command("similar")
def recommend_similar(
    item_id: Annotated[str, typer.Argument(help="Item id")],
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many items")] = 10,
    name: RecName = "rec",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Items whose embeddings are nearest to ITEM's."""
    from redvec.recommend import Recommender

    rec = Recommender(connect(url), name)
    similar = rec.similar_items(item_id, n)
    if as_json:
        print_json([{"item": i, "similarity": s} for i, s in similar])
        return
    titles = _titles(rec, [i for i, _ in similar])
    for i, sim in similar:
        out.print(f"{i:>8}  {sim:6.3f}  {titles.get(i, '')}", markup=False)


@recommend_app.command("load-movielens")
def recommend_load_movielens(
    path: Annotated[Path, typer.Argument(help="The ml-100k folder")],
    kind: Annotated[str, typer.Option(help="genres or factors")] = "factors",
    split: Annotated[str, typer.Option(help="Training split: ua, ub, u1..u5")] = "ua",
    name: RecName = "rec",
    url: UrlOpt = None,
) -> None:
    """Build a recommender from MovieLens-100k's training ratings (replaces NAME)."""
    from redvec.recommend.movielens import load_into, read_movielens

    t = time.perf_counter()
    rec = load_into(connect(url), read_movielens(path), name=name, kind=kind, split=split)
    out.print(
        f"recommender '{name}': {rec.users.count()} users, {rec.items.count()} items, "
        f"{kind} vectors ({rec.dims}-d), in {time.perf_counter() - t:.1f} s"
    )


@eval_app.command("recommend")
def eval_recommend(
    movielens: Annotated[Path, typer.Option(help="The ml-100k folder")],
    split: Annotated[str, typer.Option(help="ua, ub, or u1..u5")] = "ua",
    neighbours: Annotated[int, typer.Option(help="K nearest users")] = 50,
    ef_runtime: Annotated[int, typer.Option(help="EF_RUNTIME for the user KNN")] = 200,
    factors: Annotated[int, typer.Option(help="SVD factors")] = 32,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the report as JSON")] = None,
    url: UrlOpt = None,
) -> None:
    """precision/recall/nDCG/hit rate@10 and coverage: redvec vs exact user-KNN vs most popular."""
    from redvec.recommend.movielens import agreement, evaluate

    report = evaluate(
        connect(url), movielens, split=split, neighbours=neighbours, ef_runtime=ef_runtime,
        factors=factors, progress=lambda m: err.print(m),
    )  # fmt: skip
    out.print(
        f"MovieLens-100k split {split}: {report['users']} test users with a positive, "
        f"K={neighbours}, EF_RUNTIME {ef_runtime}, top {report['n']}",
        soft_wrap=True,
    )
    head = "| vectors | method | P@10 | R@10 | nDCG@10 | HR@10 | coverage |"
    out.print(head, markup=False, soft_wrap=True)
    out.print("|---|---|---|---|---|---|---|", markup=False, soft_wrap=True)
    for r in report["rows"]:
        out.print(
            f"| {r['kind']} | {r['method']} | {r['precision']:.4f} | {r['recall']:.4f} | "
            f"{r['ndcg']:.4f} | {r['hit_rate']:.4f} | {r['coverage']:.4f} |",
            markup=False,
            soft_wrap=True,
        )
    gaps = agreement(report)
    for kind, gap in sorted(gaps.items()):
        out.print(f"{kind}: redvec vs exact, largest relative gap {gap:.2%} (must be <= 1%)")
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2))


bench_app = typer.Typer(
    help="Benchmarks: recall vs speed, retrieval quality.", no_args_is_help=True
)
app.add_typer(bench_app, name="bench")


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValidationError(f"{what}: integers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise ValidationError(f"{what}: positive integers, got {text!r}")
    return values


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
    from redvec.bench.ann import parse_build, run_ann, write_report
    from redvec.bench.datasets import load_dataset

    builds = parse_build(build or [])
    efs = _ints(ef_runtime, "--ef-runtime")
    threads = _ints(concurrency, "--concurrency")
    n_dim = _ints(synthetic, "--synthetic")
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
        progress=lambda m: err.print(m, markup=False),
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
    url: UrlOpt = None,
) -> None:
    """nDCG@10, Recall@100, MRR@10 (ranx) of dense, BM25 and hybrid runs vs exact search."""
    from redvec.bench.retrieval import read_beir, run_retrieval
    from redvec.providers import build_provider, provider_spec

    embedder = build_provider(provider_spec(provider, model, base_url, model_variant))
    data = read_beir(beir)
    report = run_retrieval(
        connect(url), data, embedder,
        modes=tuple(m.strip() for m in mode.split(",") if m.strip()),
        target_recall=target_recall, progress=lambda m: err.print(m, markup=False),
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
    text = "\n".join(lines)
    out.print(text, markup=False, soft_wrap=True)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
        (out_dir / "report.md").write_text(text + "\n")


alias_app = typer.Typer(help="Aliases: stable names that searches use.", no_args_is_help=True)
app.add_typer(alias_app, name="alias")


@alias_app.command("set")
def alias_set(
    alias: Annotated[str, typer.Argument(help="Alias name")],
    index: Annotated[str, typer.Argument(help="Index it points to")],
    url: UrlOpt = None,
) -> None:
    """Create ALIAS or move it to INDEX (atomic)."""
    from redvec.reindex import set_alias

    set_alias(connect(url), alias, index)
    out.print(f"alias '{alias}' -> '{index}'")


@app.command("reindex")
def reindex_cmd(
    alias: Annotated[str, typer.Argument(help="The alias searches use")],
    schema: Annotated[Path, typer.Option("--schema", help="The new index's schema (YAML/JSON)")],
    keep_old: Annotated[bool, typer.Option(help="Keep the old index after the switch")] = False,
    url: UrlOpt = None,
) -> None:
    """Build the new index beside the old, switch ALIAS when fully indexed, drop the old."""
    from redvec.reindex import reindex

    result = reindex(connect(url), alias, load_schema(schema), drop_old=not keep_old)
    out.print(
        f"alias '{alias}': '{result.old_index}' -> '{result.new_index}' "
        f"({result.documents} documents, {result.seconds:.1f} s)"
        + ("" if keep_old else f"; '{result.old_index}' dropped, documents kept")
    )
    if result.builds > 1:
        err.print(
            f"writes during the new index's scan spoiled {result.builds - 1} build(s) "
            f"(documents indexed twice leave deleted nodes in the HNSW graph); rebuilt",
            markup=False,
        )
    if result.scan_duplicates:
        err.print(
            f"warning: the kept build holds {result.scan_duplicates} documents indexed "
            f"twice (writes went on during every build): its recall may be below a clean "
            f"build's; pause bulk writes and reindex again for a clean graph",
            markup=False,
        )


@app.command("backup")
def backup_cmd(
    out_dir: Annotated[Path, typer.Option("--out", help="A new or empty folder")],
    rdb: Annotated[bool, typer.Option(help="Also copy the server's RDB snapshot (BGSAVE)")] = False,
    with_cache: Annotated[
        bool, typer.Option("--with-cache", help="Also the embedding cache (redvec:emb:)")
    ] = False,
    url: UrlOpt = None,
) -> None:
    """Export everything redvec owns: documents in index order, schemas, settings,
    ingest state, tenants, recommenders, aliases, queued jobs; with checksums."""
    from redvec.backup import backup

    s = backup(connect(url), out_dir, rdb=rdb, include_cache=with_cache)
    out.print(
        f"backed up {s.indexes} indexes, {s.keys} keys, {s.aliases} aliases to {s.path}"
        f" (and {s.other_keys} keys of redvec's own: schemas, settings, state, recommenders)"
        + (" (with dump.rdb)" if s.rdb else "")
    )


@app.command("restore")
def restore_cmd(
    src: Annotated[Path, typer.Argument(help="A folder written by `redvec backup`")],
    overwrite: Annotated[bool, typer.Option(help="Replace indexes of the same name")] = False,
    url: UrlOpt = None,
) -> None:
    """Restore a backup; returns once every index is fully indexed again."""
    from redvec.backup import restore

    t = time.perf_counter()
    s = restore(connect(url), src, overwrite=overwrite)
    out.print(
        f"restored {s.indexes} indexes, {s.keys} keys, {s.aliases} aliases from {s.path}; "
        f"fully indexed after {time.perf_counter() - t:.1f} s"
    )


acl_app = typer.Typer(help="Redis ACL users for redvec roles.", no_args_is_help=True)
app.add_typer(acl_app, name="acl")


@acl_app.command("create-user")
def acl_create_user(
    name: Annotated[str, typer.Argument(help="User name")],
    role: Annotated[str, typer.Option(help="reader, writer or admin")],
    prefix: Annotated[
        list[str] | None, typer.Option(help="Document key prefix (repeat; default doc:)")
    ] = None,
    index: Annotated[str, typer.Option(help="Index names the user may use")] = "idx:*",
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password here (default: generate, print once)")
    ] = None,
    url: UrlOpt = None,
) -> None:
    """Create (or replace) an ACL user: readers search, writers write their prefix."""
    import secrets

    from redvec.acl import create_user

    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as e:
            raise ValidationError(f"cannot read {password_file}: {e.strerror}") from None
    else:
        password = secrets.token_urlsafe(24)
    user = create_user(connect(url), name, role, password, prefixes=prefix, index_pattern=index)
    if password_file is None:
        out.print(password, markup=False, highlight=False)
    err.print(f"user '{user.name}' ({user.role}): {' '.join(user.rules)}", markup=False)


@app.command()
def estimate(
    n: Annotated[int, typer.Option("--n", help="Number of vectors")],
    dim: Annotated[int, typer.Option("--dim", help="Dimensions")],
    datatype: Annotated[
        str, typer.Option("--type", help="FLOAT32, FLOAT64, FLOAT16, BFLOAT16")
    ] = "FLOAT32",
    m: Annotated[int, typer.Option("--m", help="HNSW M (0 for FLAT)")] = 16,
    as_json: JsonOpt = False,
) -> None:
    """Predict the memory of N vectors in a HASH-stored HNSW (or FLAT) index."""
    from redvec.bench.estimate import estimate_memory

    e = estimate_memory(n, dim, datatype, m)
    if as_json:
        print_json(e.to_dict())
        return
    out.print(
        f"{n:,} x {dim} {datatype.upper()}, {'FLAT' if m == 0 else f'HNSW M {m}'}: "
        f"vector index {e.vector_index_mb:,.0f} MB, Redis keys {e.keys_mb:,.0f} MB, "
        f"total {e.total_mb:,.0f} MB ({e.bytes_per_vector:,.0f} bytes per vector)",
        soft_wrap=True,
    )


def _metavars(command: Any) -> None:
    """Every value option shows a metavar named after it (``--index NAME`` style, as
    argparse and click print them: ``--ef-runtime EF_RUNTIME``), choices as
    ``[a|b|c]``, flags none."""
    for param in getattr(command, "params", []):
        if param.__class__.__name__ == "TyperArgument":
            if param.metavar is None:
                param.metavar = param.name.upper()
            # Typer 0.29 prints an argument's Python type beside it ("NAME <str>"); the
            # help text says what it is.
            param.display_type_rich = lambda ctx: None
            continue
        if param.__class__.__name__ != "TyperOption" or param.metavar is not None:
            continue
        if param.is_flag:
            param.metavar = ""
            continue
        annotation = getattr(param.type_descriptor, "annotation", None)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            param.metavar = "[" + "|".join(str(m.value) for m in annotation) + "]"
            continue
        longest = max(param.opts, key=len).lstrip("-")
        param.metavar = longest.replace("-", "_").upper()
    for sub in getattr(command, "commands", {}).values():
        _metavars(sub)


def command() -> Any:
    """The click command behind ``redvec``, with its help as documented."""
    cmd = typer.main.get_command(app)
    _metavars(cmd)
    return cmd


# Exit codes (docs/cli.md): 0 done; 1 an error the user can fix, named on one line
# (input, settings, a refusal, a Redis that cannot be used); 2 a usage error (unknown
# option, bad value: click's own); 130 interrupted.
EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
EXIT_REDIS = EXIT_ERROR  # scripts written against redvec's first releases test for 1


def _fail(message: str, code: int) -> None:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(code)


def main() -> None:
    """Run ``redvec``: every error a user can cause is one line naming the cause and the
    fix, with the exit code above; only a bug in redvec prints a traceback."""
    import redis

    from redvec.connection import unavailable
    from redvec.errors import ModuleMissingError, RedisUnavailableError
    from redvec.index import redis_message

    try:
        command()(standalone_mode=True)
    except (RedisUnavailableError, ModuleMissingError) as e:
        _fail(str(e), EXIT_REDIS)
    except RedvecError as e:
        _fail(str(e), EXIT_ERROR)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except redis.exceptions.NoPermissionError as e:
        _fail(
            f"Redis refused the command for this user: {redis_message(e)}; connect as a user "
            f"with the role the command needs (see `redvec acl create-user`)",
            EXIT_REDIS,
        )
    except redis.AuthenticationError as e:
        _fail(f"Redis refused the credentials: {e}; check the URL's user and password", EXIT_REDIS)
    except (redis.TimeoutError, redis.ConnectionError) as e:
        _fail(str(unavailable(e)), EXIT_REDIS)
    except redis.exceptions.InvalidResponse as e:
        _fail(
            f"the server at the Redis URL does not answer as Redis ({e}); check --url / "
            f"REDIS_URL: is it the port of another service?",
            EXIT_REDIS,
        )
    except redis.ResponseError as e:
        _fail(f"Redis refused the command: {redis_message(e)}", EXIT_ERROR)
    except UnicodeDecodeError as e:
        _fail(f"a file is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8", 1)
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        _fail(f"{e.strerror or e}{':' + where if where else ''}", EXIT_ERROR)


if __name__ == "__main__":
    main()
