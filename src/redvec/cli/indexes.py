"""`redvec index create|info|list|drop`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    IndexName,
    JsonOpt,
    UrlOpt,
    app,
    index_app,
    out,
    print_json,
    print_table,
)
from redvec.connection import connect
from redvec.index import SearchIndex, list_indexes
from redvec.schema import load_schema
from redvec.tenants import create_tenant_index

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
        return
    print_table(
        ["index", "documents", "storage", "indexed"],
        [[i.name, f"{i.num_docs:,}", i.schema.storage, f"{i.percent_indexed:.0%}"] for i in rows],
        right={1, 3},
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


@app.command()
def merge(
    index: Annotated[str, typer.Option("--index", "-i", help="Index name")],
    once: Annotated[
        bool, typer.Option("--once", help="Empty the buffer once and exit (else run until ^C)")
    ] = False,
    pause: Annotated[
        float, typer.Option(help="Seconds between two round trips (paces the merge further)")
    ] = 0.0,
    group: Annotated[
        int,
        typer.Option(min=1, max=64, help="RENAMEs per round trip (1: a reader waits one insert)"),
    ] = 2,
    cluster: Annotated[
        bool,
        typer.Option("--cluster", help="The URL is a Redis Cluster node: merge every shard's"),
    ] = False,
    url: UrlOpt = None,
) -> None:
    """Move an index's write-buffered documents into it, one atomic RENAME at a time
    (`redvec worker` and `redvec serve` run this too); safe beside other mergers, and
    safe to kill at any moment."""
    import signal
    import threading

    from redvec.merger import Merger

    if cluster:
        from redvec.cluster import ClusterIndex, connect_cluster
        from redvec.settings import Settings

        node = url or Settings.from_env().redis_url
        if not node:
            raise typer.BadParameter("--cluster needs --url (or REDIS_URL) of a cluster node")
        target: SearchIndex | ClusterIndex = ClusterIndex.open(connect_cluster(node), index)
    else:
        target = SearchIndex.open(connect(url), index)
    merger = Merger(target, pause=pause, group=group)
    if once:
        totals = merger.drain()
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            totals = merger.run(stop)
        except KeyboardInterrupt:
            totals = merger.totals
    out.print(f"merged {totals.moved} documents into '{index}' ({totals.gone} found gone)")
