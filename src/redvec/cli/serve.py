"""`redvec serve` (the HTTP service) and `redvec apikey create`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    UrlOpt,
    app,
    err,
    out,
    refuse_port_in_use,
)
from redvec.connection import connect, redact_url, resolve_url
from redvec.errors import ConfigError, RedvecError
from redvec.settings import Settings

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
    import dataclasses

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

    refuse_port_in_use(host, port)
    settings = Settings.from_env()
    keys = ServiceConfig.auth_for(
        host,
        api_keys or settings.api_keys_file,
        None if no_auth else settings.api_keys,
        no_auth,
    )
    resolved = resolve_url(url, settings)
    # The workers rebuild the service from these (the key file is read once, here).
    dataclasses.replace(
        settings,
        redis_url=resolved,
        api_keys_file=None,
        api_keys=None if keys is None else keys.to_json(),
        max_body_bytes=settings.max_body_bytes if max_body is None else max_body,
    ).export()
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
