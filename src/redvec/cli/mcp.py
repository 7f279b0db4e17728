"""`redvec mcp`: the indexes as Model Context Protocol tools, over stdio or streamable HTTP."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from redvec.cli.common import UrlOpt, app, err, refuse_port_in_use
from redvec.connection import redact_url, resolve_url
from redvec.errors import ConfigError
from redvec.settings import Settings


class Transport(enum.StrEnum):
    """How the MCP client reaches the server."""

    stdio = "stdio"
    http = "http"


@app.command()
def mcp(
    transport: Annotated[
        Transport,
        typer.Option(help="stdio (the client starts this command) or http (streamable HTTP)"),
    ] = Transport.stdio,
    host: Annotated[str, typer.Option(help="Address to bind (http)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port (http)")] = 8001,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Offer no tool that writes or deletes")
    ] = False,
    index: Annotated[
        list[str] | None,
        typer.Option(help="Offer only this index (repeat the option; default: every index)"),
    ] = None,
    url: UrlOpt = None,
    api_keys: Annotated[
        Path | None,
        typer.Option(help="API key file (http; default: REDVEC_API_KEYS_FILE or REDVEC_API_KEYS)"),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Serve http without API keys (local use)")
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="Log level: critical, error, warning, info, debug")
    ] = "warning",
) -> None:
    """Serve the indexes as MCP tools: list_indexes, describe_index, search, get_documents,
    upsert_documents and delete_documents (not with --read-only), and recommend_for_user and
    similar_items when a recommender exists. Over http the service's API keys apply, and
    are required off loopback (as for `redvec serve`)."""
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise ConfigError(
            f"--log-level must be critical, error, warning, info or debug, got {log_level!r}"
        )
    try:
        import mcp as _sdk  # noqa: F401

        from redvec.api.service import Service, ServiceConfig
        from redvec.mcp import McpOptions, build_server, http_app
    except ImportError as e:
        raise ConfigError(
            f"the MCP server needs the 'mcp' extra ({e.name} is missing): pip install 'redvec[mcp]'"
        ) from None
    import logging

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    resolved = resolve_url(url, settings)
    keys = None
    if transport is Transport.http:
        keys = ServiceConfig.auth_for(
            host,
            api_keys or settings.api_keys_file,
            None if no_auth else settings.api_keys,
            no_auth,
        )
    config = ServiceConfig(
        resolved, keys, settings.max_body_bytes, settings.index_cache_seconds,
        rerankers=settings.rerankers,
    )  # fmt: skip
    svc = Service(config)
    options = McpOptions(read_only, frozenset(index) if index else None)
    server = build_server(svc, options, log_level=log_level.upper())  # type: ignore[arg-type]
    if transport is Transport.stdio:
        server.run("stdio")
        return
    import uvicorn

    refuse_port_in_use(host, port)
    auth = "off" if keys is None else f"on ({len(keys.keys)} keys)"
    err.print(
        f"redvec MCP on http://{host}:{port}/mcp (Redis {redact_url(resolved)}, auth {auth}"
        f"{', read-only' if read_only else ''})"
    )
    uvicorn.run(
        http_app(server, svc, host, settings.max_body_bytes),
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
    )
