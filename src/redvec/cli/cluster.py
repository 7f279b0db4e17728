"""`redvec cluster ...`: indexes spanning the shards of a Redis Cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from redvec.cli.common import (
    IndexName,
    JsonOpt,
    app,
    load_vector,
    out,
    print_hits,
    print_json,
)
from redvec.cluster import (
    ClusterIndex,
    connect_cluster,
)
from redvec.schema import load_schema

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
    result = idx.search(load_vector(vector_file), k, filter=filter_expr)
    print_hits(result.hits, as_json)
