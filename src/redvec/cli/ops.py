"""Operations: aliases, reindex, backup and restore, ACL users, memory estimates."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
import typer.main

from redvec.cli.common import (
    JsonOpt,
    UrlOpt,
    app,
    err,
    out,
    print_json,
)
from redvec.connection import connect
from redvec.errors import ValidationError
from redvec.schema import load_schema

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
