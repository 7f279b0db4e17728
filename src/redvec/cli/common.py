"""Shared by every command group: the Typer app, the consoles, the option types (one
``--json``, one ``--url``), output helpers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console

from redvec.errors import ConfigError, ValidationError
from redvec.settings import Settings

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


def data_dir_of(path: Path | None) -> Path:
    """The embedded server's data directory: the option's, else the settings'."""
    return (path or Settings.from_env().data_dir).absolute()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout (for scripts: nothing else goes there)."""
    out.print_json(json.dumps(value, default=str))


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


def load_vector(path: Path) -> Any:
    """A query vector from a .npy file; :class:`ValidationError` for one that is not 1-d."""
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ValidationError(f"cannot read vector file {path}: {e}") from None
    return data.reshape(-1) if data.ndim == 2 and data.shape[0] == 1 else data


def print_hits(hits: list[Any], as_json: bool) -> None:
    """Search hits as a table for people, or JSON with ``--json``."""
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        out.print("no results")
    for rank, h in enumerate(hits, 1):
        dist = "" if h.distance is None else f"  distance {h.distance:.4f}"
        if getattr(h, "rerank_score", None) is not None:
            dist += f"  rerank {h.rerank_score:.4f}"
        fields = {k: v for k, v in h.fields.items() if not isinstance(v, list | dict)}
        summary = "  ".join(f"{k}={str(v)[:60]!r}" for k, v in list(fields.items())[:4])
        out.print(f"{rank:>3}. {h.id}  score {h.score:.4f}{dist}  {summary}", markup=False)


def print_table(
    headers: list[str], rows: list[list[Any]], *, right: set[int] | None = None
) -> None:
    """Rows for people, as one rich table: a header line, columns aligned (``right``: the
    indexes of numeric columns), no borders, so the output stays easy to grep."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, highlight=False)
    for n, header in enumerate(headers):
        if right and n in right:
            table.add_column(header, justify="right", overflow="fold")
        else:
            table.add_column(header, justify="left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))  # values as text, never as markup
    out.print(table)


def refuse_port_in_use(host: str, port: int) -> None:
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
                    f"port {port} on {host} is already in use (another `redvec serve` or "
                    f"`redvec mcp`?); stop that process or choose another --port"
                ) from None
            raise ConfigError(f"cannot bind to {host}:{port}: {e.strerror}") from None
