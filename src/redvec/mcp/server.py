"""redvec's tools for AI agents, on the official MCP SDK (``mcp``, the ``redvec[mcp]`` extra).

Every tool answers through the same functions as the HTTP service: a search is a
:class:`redvec.api.models.SearchRequest` answered by :func:`redvec.api.searching.answer_search`,
an upsert goes through :func:`redvec.api.routes.documents.answer_upsert`, and so on. The
same request is therefore validated by the same rules and refused with the same message,
whichever way it arrives; a refusal is an MCP tool error (``is_error``) whose text is the
HTTP answer's ``code: message``, never a traceback.

Over streamable HTTP the service's API keys apply: a request without a known key is an
HTTP 401 before MCP sees it, each tool checks its scope (``read`` or ``write``), and a key
bound to a tenant sees only that tenant's indexes. Over stdio the client is the local user
who started the process, so there are no keys.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
import msgspec
import numpy as np
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from redvec import keys
from redvec.api.errors import ApiError, answer_for, error_parts
from redvec.api.models import DocumentsRequest, SearchRequest
from redvec.api.routes.documents import answer_upsert
from redvec.api.routes.recommend import recommend_answer, similar_answer
from redvec.api.searching import answer_search
from redvec.api.service import Service
from redvec.errors import IndexNotFoundError

__all__ = ["McpOptions", "build_server", "http_app"]

log = logging.getLogger("redvec.mcp")

INSTRUCTIONS = (
    "redvec: vector, full-text and hybrid search over Redis indexes. Call list_indexes, then "
    "describe_index to learn an index's fields (what 'filter' and 'return_fields' may name), "
    "then search it with text (embedded by the index's own model when it has one), a vector, "
    "or both."
)


@dataclass(frozen=True)
class McpOptions:
    """What one MCP server offers: whether it may write, and which indexes it shows
    (None: every index the caller's key may see)."""

    read_only: bool = False
    indexes: frozenset[str] | None = None


@contextlib.contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Library and service errors as MCP tool errors carrying the HTTP answer's code and
    message; anything unexpected is left to the SDK, which logs it and tells the client
    only that the tool failed."""
    try:
        yield
    except ToolError:
        raise
    except msgspec.ValidationError as e:
        raise ToolError(f"invalid_request: {_problem(e)}") from None
    except Exception as e:
        status, code, message = answer_for(e, "tool", "mcp")
        if status == 500:
            raise
        raise ToolError(f"{code}: {message}") from None


def _problem(e: msgspec.ValidationError) -> str:
    """msgspec's ``Expected `int` >= 1 - at `$.k``` worded as the HTTP service's 422
    (``k: Expected 'int' >= 1``)."""
    found = re.fullmatch(r"(.*) - at `\$\.?(.*)`", str(e), re.S)
    message, at = (found.group(1), found.group(2)) if found else (str(e), "")
    message = message.replace("`", "'")
    return f"{at}: {message}" if at else message


def _builtins(value: Any) -> Any:
    """A wire answer (msgspec Struct, numpy arrays inside) as plain JSON-ready data."""
    return msgspec.to_builtins(value, enc_hook=_encode)


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


IndexName = Annotated[str, Field(min_length=1, max_length=512, description="The index's name")]
Ids = Annotated[list[str], Field(min_length=1, max_length=1000, description="Document ids")]
RecommenderName = Annotated[str, Field(min_length=1, description="The recommender's name")]
HowMany = Annotated[int, Field(ge=1, le=1000, description="How many items (1 to 1000)")]


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def build_server(
    svc: Service, options: McpOptions | None = None, *, log_level: LogLevel = "WARNING"
) -> MCPServer:
    """The MCP server over ``svc``: read tools always, write tools unless read-only, and
    the recommender tools when the Redis holds a recommender (checked once, here)."""
    opts = options or McpOptions()
    version = importlib.metadata.version("redvec")
    mcp: MCPServer = MCPServer(
        "redvec", instructions=INSTRUCTIONS, version=version, log_level=log_level
    )
    read = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)

    def headers_of(ctx: Context) -> Mapping[str, str]:
        return ctx.headers or {}

    def shown(name: str) -> None:
        if opts.indexes is not None and name not in opts.indexes:
            raise IndexNotFoundError(f"no index named '{name}'")

    @mcp.tool(annotations=read)
    async def list_indexes(ctx: Context) -> dict[str, Any]:
        """The names of the indexes you can search."""
        with _as_tool_errors():
            names = await anyio.to_thread.run_sync(svc.visible_indexes, headers_of(ctx))
        if opts.indexes is not None:
            names = [n for n in names if n in opts.indexes]
        return {"indexes": names}

    def _describe(headers: Mapping[str, str], index: str) -> dict[str, Any]:
        shown(index)
        svc.authorize(headers, "read", index)
        idx, _ = svc.index(index)
        info = idx.info().to_dict()
        vf = idx.schema.vector_field()
        provider = idx.get_setting("provider")
        info["vector"] = {
            "field": vf.name, "dims": vf.dims, "distance": vf.distance, "algorithm": vf.algorithm,
        }  # fmt: skip
        info["provider"] = None if provider is None else msgspec.json.decode(provider)
        info["rerankers"] = svc.rerankers.names
        return info

    @mcp.tool(annotations=read)
    async def describe_index(index: IndexName, ctx: Context) -> dict[str, Any]:
        """An index's fields (names and types: what 'filter' and 'return_fields' may use), its
        vector field (dims, metric), its size (num_docs), indexing state and the embedding
        provider recorded with it (null: send vectors, or search text by BM25)."""
        with _as_tool_errors():
            return await anyio.to_thread.run_sync(_describe, headers_of(ctx), index)

    @mcp.tool(annotations=read)
    async def search(
        index: IndexName,
        ctx: Context,
        text: Annotated[
            str | None,
            Field(description="Query text: embedded for dense search, matched for bm25"),
        ] = None,
        vector: Annotated[
            list[float] | None,
            Field(description="A query vector of the index's dims, instead of or with text"),
        ] = None,
        mode: Annotated[
            Literal["dense", "bm25", "hybrid"] | None,
            Field(
                description="dense (KNN), bm25 (full text) or hybrid (both, fused); "
                "default: hybrid for text and a vector, dense for a vector or text the index "
                "can embed, else bm25"
            ),
        ] = None,
        k: Annotated[int, Field(description="How many results (1 to 1000)")] = 10,
        filter: Annotated[
            dict[str, Any] | None,
            Field(
                description='A structured pre-filter, e.g. {"field": "category", "tag": '
                '"sport"}, {"field": "year", "gte": 2000}, {"and": [...]}, {"or": [...]}, '
                '{"not": {...}} (docs/query.md)'
            ),
        ] = None,
        return_fields: Annotated[
            list[str] | None, Field(description="Fields to return with each hit (default: all)")
        ] = None,
        offset: Annotated[int, Field(description="Results to skip (paging)")] = 0,
        ef_runtime: Annotated[int | None, Field(description="HNSW EF_RUNTIME")] = None,
        text_weight: Annotated[float | None, Field(description="Hybrid: BM25's weight")] = None,
        vector_weight: Annotated[float | None, Field(description="Hybrid: KNN's weight")] = None,
        hybrid_policy: Annotated[
            Literal["auto", "adhoc_bf", "batches", "redisearch"] | None,
            Field(description="How a filtered KNN runs (default: the planner chooses)"),
        ] = None,
        explain: Annotated[bool, Field(description="Add the KNN's plan to the answer")] = False,
        rerank: Annotated[
            str | None,
            Field(
                description="Rerank the hits: 'mmr' (diverse results, by the stored vectors) "
                "or a reranker this server offers (describe_index lists them)"
            ),
        ] = None,
        fetch_k: Annotated[
            int | None, Field(description="Candidates the reranker reorders (default max(50, 4k))")
        ] = None,
        mmr_lambda: Annotated[
            float | None, Field(description="mmr: 1 keeps relevance order, 0 is most diverse")
        ] = None,
    ) -> dict[str, Any]:
        """Search an index: KNN over text (embedded with the index's model) or a vector, BM25
        over text, or hybrid; with an optional structured filter. Answers the hits (id, score:
        higher is better, distance, fields), how many matched, and the mode that ran."""
        with _as_tool_errors():
            shown(index)
            body: dict[str, Any] = {
                "text": text, "vector": vector, "mode": mode, "k": k, "filter": filter,
                "return_fields": return_fields, "offset": offset, "ef_runtime": ef_runtime,
                "hybrid_policy": hybrid_policy, "explain": explain,
            }  # fmt: skip
            weights = {"text_weight": text_weight, "vector_weight": vector_weight}
            if any(w is not None for w in weights.values()):
                body["hybrid"] = {n: w for n, w in weights.items() if w is not None}
            if rerank is not None or fetch_k is not None or mmr_lambda is not None:
                stage = {"name": rerank, "fetch_k": fetch_k, "lambda": mmr_lambda}
                body["rerank"] = {n: v for n, v in stage.items() if v is not None}
            req = msgspec.convert({n: v for n, v in body.items() if v is not None}, SearchRequest)
            answer = await answer_search(svc, index, req, headers_of(ctx))
            return dict(_builtins(answer))

    def _get(
        headers: Mapping[str, str], index: str, ids: list[str], with_vectors: bool
    ) -> dict[str, Any]:
        shown(index)
        svc.authorize(headers, "read", index)
        idx, _ = svc.index(index)
        with svc.metrics.timed_redis("get"):
            docs = idx.get(ids, with_vectors=with_vectors)
        found, missing = [], []
        for doc_id, doc in zip(ids, docs, strict=True):
            if doc is None:
                missing.append(doc_id)
                continue
            doc.pop("id", None)
            found.append({"id": doc_id, "fields": _builtins(doc)})
        return {"documents": found, "missing": missing}

    @mcp.tool(annotations=read)
    async def get_documents(
        index: IndexName,
        ids: Ids,
        ctx: Context,
        with_vectors: Annotated[bool, Field(description="Include the stored vectors")] = False,
    ) -> dict[str, Any]:
        """Documents by id, with their fields; ids not stored are listed under 'missing'."""
        with _as_tool_errors():
            return await anyio.to_thread.run_sync(_get, headers_of(ctx), index, ids, with_vectors)

    if not opts.read_only:
        _write_tools(mcp, svc, shown, headers_of)
    if svc.client.scard(keys.RECOMMENDERS):
        _recommender_tools(mcp, svc, read, headers_of)
    return mcp


def _write_tools(mcp: MCPServer, svc: Service, shown: Any, headers_of: Any) -> None:
    write = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)

    def _upsert(headers: Mapping[str, str], index: str, documents: list[Any]) -> dict[str, Any]:
        shown(index)
        data = msgspec.convert({"documents": documents}, DocumentsRequest)
        return dict(_builtins(answer_upsert(svc, index, data, headers)))

    @mcp.tool(annotations=write)
    async def upsert_documents(
        index: IndexName,
        documents: Annotated[
            list[dict[str, Any]],
            Field(
                min_length=1,
                max_length=10_000,
                description="Whole documents: an 'id' and the index's fields; a document "
                "without its vector is embedded from its text when the index has a provider",
            ),
        ],
        ctx: Context,
    ) -> dict[str, Any]:
        """Write documents all or none (each replaces any stored under its id); answers the
        ids written and how many vectors were made from text. One refused document refuses
        the call and names why; nothing is written then."""
        with _as_tool_errors():
            return await anyio.to_thread.run_sync(_upsert, headers_of(ctx), index, documents)

    def _delete(headers: Mapping[str, str], index: str, ids: list[str]) -> dict[str, Any]:
        shown(index)
        svc.authorize(headers, "write", index)
        idx, _ = svc.index(index)
        with svc.metrics.timed_redis("delete"):
            deleted = idx.delete(ids)
        return {"deleted": deleted}

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
    async def delete_documents(index: IndexName, ids: Ids, ctx: Context) -> dict[str, Any]:
        """Delete documents by id; answers how many were stored."""
        with _as_tool_errors():
            return await anyio.to_thread.run_sync(_delete, headers_of(ctx), index, ids)


def _recommender_tools(
    mcp: MCPServer, svc: Service, read: ToolAnnotations, headers_of: Any
) -> None:
    @mcp.tool(annotations=read)
    async def recommend_for_user(
        user_id: Annotated[str, Field(min_length=1, description="The user's id")],
        ctx: Context,
        recommender: RecommenderName = "rec",
        n: HowMany = 10,
        neighbours: Annotated[int, Field(ge=1, le=1000, description="Neighbours asked")] = 50,
        filter: Annotated[
            str | None, Field(max_length=2000, description="A filter over the items")
        ] = None,
    ) -> dict[str, Any]:
        """Items for a user, from what the users nearest to them liked (the most popular
        items, with the reason, for a user without neighbours)."""
        with _as_tool_errors():
            answer = await anyio.to_thread.run_sync(
                recommend_answer, svc, headers_of(ctx), user_id, recommender, n, neighbours, filter
            )
            return dict(_builtins(answer))

    @mcp.tool(annotations=read)
    async def similar_items(
        item_id: Annotated[str, Field(min_length=1, description="The item's id")],
        ctx: Context,
        recommender: RecommenderName = "rec",
        n: HowMany = 10,
    ) -> dict[str, Any]:
        """Items similar to an item, by KNN over the item embeddings."""
        with _as_tool_errors():
            answer = await anyio.to_thread.run_sync(
                similar_answer, svc, headers_of(ctx), item_id, recommender, n
            )
            return dict(_builtins(answer))


class _KeyCheck:
    """Refuses an HTTP request without a known API key (401, the service's error shape)
    before the MCP transport reads it; the tools then check scopes and tenants."""

    def __init__(self, app: ASGIApp, svc: Service) -> None:
        self.app = app
        self.svc = svc

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.svc.config.keys is not None:
            raw = scope["headers"]
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
            try:
                self.svc.principal(headers)
            except ApiError as e:
                body, extra = error_parts(e.status, e.code, e.message)
                await JSONResponse(body, e.status, extra)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def http_app(server: MCPServer, svc: Service, host: str, max_body_bytes: int) -> ASGIApp:
    """The streamable HTTP transport (at ``/mcp``) behind the API key check."""
    app = server.streamable_http_app(host=host, max_request_body_size=max_body_bytes)
    return _KeyCheck(app, svc)
