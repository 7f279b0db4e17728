"""The ``redvec`` command: each verb a few lines over the Python API.

Errors redvec raises on purpose print as one line on stderr with exit code 1;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from redvec.connection import connect, inspect_server, redact_url, resolve_url
from redvec.errors import RedvecError
from redvec.server import EmbeddedServer, read_state
from redvec.settings import Settings

app = typer.Typer(
    help="Vector search and recommendations on Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
server_app = typer.Typer(help="Run the embedded Redis with RediSearch + RedisJSON.")
app.add_typer(server_app, name="server")

out = Console()
err = Console(stderr=True)

UrlOpt = Annotated[
    str | None, typer.Option("--url", help="Redis URL (default: REDIS_URL, else the embedded one)")
]
DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="Data directory of the embedded server (default: REDVEC_DATA_DIR)"),
]


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
    appendfsync: Annotated[str, typer.Option(help="always, everysec or no")] = "everysec",
    foreground: Annotated[bool, typer.Option(help="Stay attached; Ctrl-C stops it")] = False,
) -> None:
    """Start the embedded Redis and return once it answers with both modules."""
    settings = Settings.from_env(port=port, password=password)
    server = EmbeddedServer(
        _data_dir(data_dir),
        port=settings.port,
        host=host,
        password=settings.password,
        appendfsync=appendfsync,
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
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """URL, pid, versions, memory, and indexing progress of every index."""
    directory = _data_dir(data_dir)
    state = read_state(directory)
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
    server = EmbeddedServer.attach(_data_dir(data_dir))
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


def main() -> None:
    try:
        app()
    except RedvecError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
