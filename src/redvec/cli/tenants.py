"""`redvec tenant create|list|drop`."""

from __future__ import annotations

from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    JsonOpt,
    TenantName,
    UrlOpt,
    app,
    out,
    print_json,
    print_table,
)
from redvec.connection import connect
from redvec.tenants import create_tenant, drop_tenant, list_tenants

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
        return
    print_table(
        ["tenant", "documents", "indexes"],
        [[t.name, f"{t.documents:,}", ", ".join(t.indexes) or "none"] for t in tenants],
        right={1},
    )


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
