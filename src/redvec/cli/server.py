"""`redvec server start|status|stop` and `redvec doctor`: the embedded Redis."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    DirOpt,
    JsonOpt,
    UrlOpt,
    app,
    data_dir_of,
    err,
    out,
    print_json,
    server_app,
)
from redvec.cluster import masters
from redvec.connection import connect, connect_cluster, inspect_server, redact_url, resolve_url
from redvec.errors import ConfigError
from redvec.local_cluster import LocalCluster, read_cluster_state
from redvec.server import EmbeddedServer, read_state
from redvec.settings import Settings


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
        local = LocalCluster(data_dir_of(data_dir), cluster, host=host, ports=ports).start()
        for node in local.nodes:
            out.print(f"cluster node: {node.url} (pid {node.pid}, data in {node.data_dir})")
        out.print(f"redvec cluster started: {cluster} masters; REDIS_URL={local.url}")
        return
    server = EmbeddedServer(
        data_dir_of(data_dir),
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
    directory = data_dir_of(data_dir)
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
    directory = data_dir_of(data_dir)
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
