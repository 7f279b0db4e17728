"""The ASGI application: routes over :class:`Service`, errors, metrics, the search page.

Searches run on the event loop with an asyncio Redis client (the request is built and
the reply parsed by the same code as the library's); everything else (writes, index
management, embedding text) is synchronous library code run in a worker thread.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gc
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Annotated, Any

import anyio.to_thread
import msgspec
import numpy as np
from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import Parameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from redvec import keys
from redvec.api import models
from redvec.api.auth import KeyRing
from redvec.api.errors import ApiError, exception_handlers
from redvec.api.fastlane import fast_lane
from redvec.api.models import (
    BatchSearchRequest,
    BatchSearchResponse,
    ByExampleRequest,
    ByExampleResponse,
    DeleteResponse,
    Document,
    DocumentsRequest,
    EnqueueResponse,
    ErrorBody,
    HybridWeights,
    IndexList,
    Neighbour,
    ReadyResponse,
    RecommendedItem,
    RecommendResponse,
    SearchHit,
    SearchRequest,
    SearchResponse,
    SimilarItem,
    SimilarResponse,
    TenantBody,
    TenantCreate,
    TenantList,
    UpsertResponse,
)
from redvec.api.service import Service, ServiceConfig
from redvec.connection import REQUIRED_MODULES, index_progress, is_missing_index, loaded_modules
from redvec.documents import document_id
from redvec.errors import (
    ConfigError,
    IndexNotFoundError,
    ValidationError,
    VectorError,
)
from redvec.filters import filter_from_json
from redvec.index import SearchIndex, list_indexes
from redvec.ingest.worker import enqueue
from redvec.query import KnnQuery, SearchMode, SearchResult
from redvec.schema import IndexSchema
from redvec.tenants import create_tenant, drop_tenant, list_tenants, tenant_of
from redvec.usecases import DocumentsRefused, SearchSpec, search_by_text_async, upsert_documents

__all__ = ["create_app", "create_app_from_env", "stream_for"]

_ERRORS = {
    s: ResponseSpec(ErrorBody, description=d)
    for s, d in {
        401: "No or unknown API key",
        403: "The key lacks the scope",
        404: "Unknown index or document",
        413: "Body over the limit",
        422: "Invalid request (named field or value)",
        503: "Redis is unavailable (Retry-After)",
    }.items()
}


# Prometheus' text format. Litestar appends "; charset=utf-8" to a text/* media type
# that lacks one, so the type is given without it (Prometheus 3 refuses a scrape whose
# Content-Type repeats a parameter).
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"


def stream_for(index: str) -> str:
    """The stream the HTTP service enqueues into; run `redvec worker --stream` on it."""
    return f"{keys.QUEUE}{index}"


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _response(
    result: SearchResult, start: float, mode: SearchMode = SearchMode.DENSE
) -> SearchResponse:
    hits = [SearchHit(h.id, h.score, h.distance, h.fields) for h in result.hits]
    return SearchResponse(hits, result.total, _ms(start), mode.value)


def _path_id(raw: str) -> str:
    """A document id from the rest of the path: ids written with '/' (a file's relative
    path, say) are read and deleted with the same '/' (or %2F, which servers decode)."""
    doc_id = raw[1:] if raw.startswith("/") else raw
    if not doc_id:
        raise ValidationError("the document id is empty")
    return doc_id


def _vector_of(req: SearchRequest) -> Any:
    given = [n for n in ("vector", "vector_b64") if getattr(req, n) is not None]
    if len(given) > 1:
        raise ValidationError("send one of 'vector' or 'vector_b64', not both")
    if req.vector is not None:
        return req.vector
    if req.vector_b64 is not None:
        try:
            raw = base64.b64decode(req.vector_b64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("'vector_b64' is not valid base64") from None
        if not raw or len(raw) % 4:
            raise ValidationError(
                f"'vector_b64' must hold little-endian float32 values (a multiple of 4 bytes), "
                f"got {len(raw)} bytes"
            )
        return np.frombuffer(raw, dtype="<f4")
    if req.text is None:
        raise ValidationError("send 'text', 'vector' or 'vector_b64'")
    return None


async def _embed(svc: Service, idx: SearchIndex, texts: list[str]) -> Any:
    embedder = await anyio.to_thread.run_sync(svc.embedder, idx, "query")
    if embedder is None:
        raise ConfigError(
            f"index '{idx.name}' has no embedding provider recorded, so 'text' cannot be "
            f"embedded; send 'vector' or 'vector_b64' (or ingest with `redvec ingest`)"
        )
    with svc.metrics.timed_embedding("query"):
        return await anyio.to_thread.run_sync(embedder.embed, texts)


def _knn(req: SearchRequest, idx: SearchIndex, vector: Any) -> KnnQuery:
    flt = filter_from_json(req.filter, idx.schema) if req.filter is not None else None
    return KnnQuery(
        vector, req.k, flt, None, req.ef_runtime, None, None, req.return_fields, req.offset
    )


def _spec(data: SearchRequest, idx: SearchIndex, vector: Any) -> SearchSpec:
    """The request as the library's :class:`redvec.usecases.SearchSpec`."""
    asked = data.mode
    h = data.hybrid
    if h is not None:
        if asked not in (None, "hybrid"):
            raise ValidationError(f"'hybrid' weights apply to mode hybrid, not {asked}")
        asked = "hybrid"
    h = h or HybridWeights()
    return SearchSpec(
        data.text, vector, asked, data.k,
        filter_from_json(data.filter, idx.schema) if data.filter is not None else None,
        data.ef_runtime, data.return_fields, data.offset, h.text_weight, h.vector_weight,
        h.candidates,
    )  # fmt: skip


async def _search(
    svc: Service, name: str, data: SearchRequest, headers: Mapping[str, str]
) -> SearchResponse:
    """One search request, from the route handler or the fast lane alike.

    The opened index is cached for a few seconds; when a search is refused for a vector
    dimension, or finds nothing, the index may have been recreated behind the service's
    back, so it is opened afresh once and the search answered from what Redis holds now.
    """
    svc.authorize(headers, "read", name)
    try:
        response = await _search_once(svc, name, data)
    except VectorError as e:
        if not ("dimension" in str(e) or "blob size" in str(e)) or not svc.stale(name):
            raise
        return await _search_once(svc, name, data)
    if not response.results and svc.stale(name):
        return await _search_once(svc, name, data)
    return response


async def _search_once(svc: Service, name: str, data: SearchRequest) -> SearchResponse:
    start = time.perf_counter()
    idx, asearch = svc.index(name)
    spec = _spec(data, idx, _vector_of(data))

    async def embed(texts: list[str]) -> Any:
        return await _embed(svc, idx, texts)

    done = await search_by_text_async(asearch.aio, spec, embed=embed, timed=svc.metrics.timed_redis)
    return _response(done.result, start, done.mode)


def _routes(svc: Service) -> list[Any]:
    m = svc.metrics

    # -- search --------------------------------------------------------------------------

    @post(
        "/v1/indexes/{name:str}/search",
        status_code=200,
        responses=_ERRORS,
        summary="KNN, text or hybrid search",
    )
    async def search(
        name: str, data: SearchRequest, request: Request[Any, Any, Any]
    ) -> SearchResponse:
        # Ordinary requests are answered by the fast lane (api/fastlane.py) with the
        # same function; this handler serves the rest and documents the route.
        return await _search(svc, name, data, request.headers)

    @post(
        "/v1/indexes/{name:str}/search/batch",
        status_code=200,
        responses=_ERRORS,
        summary="Many KNN searches in one request and one Redis round trip",
    )
    async def search_batch(
        name: str, data: BatchSearchRequest, request: Request[Any, Any, Any]
    ) -> BatchSearchResponse:
        start = time.perf_counter()
        svc.authorize(request, "read", name)
        idx, asearch = svc.index(name)
        vectors: list[Any] = []
        for n, req in enumerate(data.searches):
            if req.hybrid is not None or req.mode not in (None, "dense"):
                raise ValidationError(
                    f"searches[{n}]: a batch runs dense (KNN) searches only; send bm25 and "
                    f"hybrid searches one by one"
                )
            try:
                vectors.append(_vector_of(req))
            except ValidationError as e:
                raise ValidationError(f"searches[{n}]: {e}") from None
        to_embed = [n for n, v in enumerate(vectors) if v is None]
        if to_embed:
            embedded = await _embed(svc, idx, [data.searches[n].text or "" for n in to_embed])
            for n, vec in zip(to_embed, embedded, strict=True):
                vectors[n] = vec
        queries = []
        for n, (req, vec) in enumerate(zip(data.searches, vectors, strict=True)):
            try:
                queries.append(_knn(req, idx, vec))
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        with m.timed_redis("search_batch"):
            results = await asearch.query_many(queries)
        return BatchSearchResponse([_response(r, start) for r in results], _ms(start))

    # -- documents -----------------------------------------------------------------------

    @put(
        "/v1/indexes/{name:str}/documents",
        status_code=200,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Upsert documents (all or none)",
    )
    def upsert(
        name: str, data: DocumentsRequest, request: Request[Any, Any, Any]
    ) -> UpsertResponse:
        svc.authorize(request, "write", name)
        try:
            return upsert_once(name, data)
        except DocumentsRefused as e:
            if "has dimension" not in str(e) or not svc.stale(name):
                raise
            return upsert_once(name, data)  # the index was recreated: its schema, afresh

    def upsert_once(name: str, data: DocumentsRequest) -> UpsertResponse:
        start = time.perf_counter()
        idx, _ = svc.index(name)
        try:
            done = upsert_documents(
                idx, data.documents, embedder=svc.embedder(idx, "documents"),
                timed=m.timed_redis, embed_timed=m.timed_embedding,
            )  # fmt: skip
        except DocumentsRefused as e:
            m.rejected.labels(name).inc(e.refused)
            raise
        m.embedded.labels(name).inc(done.embedded)
        m.written.labels(name).inc(len(done.written))
        if done.failed:
            m.rejected.labels(name).inc(len(done.failed))
            first, reason = next(iter(done.failed.items()))
            raise ApiError(
                422,
                f"document '{first}': {reason} ({len(done.failed)} of "
                f"{len(done.written) + len(done.failed)} documents not stored or not indexed; "
                f"the other {len(done.written)} were written)",
                "document_not_written",
            )
        return UpsertResponse(len(done.written), done.written, done.embedded, _ms(start))

    @post(
        "/v1/indexes/{name:str}/documents:enqueue",
        status_code=202,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Hand documents to the stream worker",
    )
    def enqueue_documents(
        name: str, data: DocumentsRequest, request: Request[Any, Any, Any]
    ) -> EnqueueResponse:
        svc.authorize(request, "write", name)
        svc.index(name)  # 404 for an unknown index, before anything is queued
        stream = stream_for(name)
        for n, doc in enumerate(data.documents):
            if document_id(doc) is None:
                m.rejected.labels(name).inc(1)
                raise ApiError(
                    422,
                    f"documents[{n}] has no usable 'id' (a string or integer); nothing was queued",
                    "invalid_document",
                )
        with m.timed_redis("enqueue"):
            count = enqueue(svc.client, stream, data.documents)
        m.enqueued.labels(name).inc(count)
        return EnqueueResponse(count, stream)

    @get(
        "/v1/indexes/{name:str}/documents/{doc_id:path}",
        responses=_ERRORS,
        sync_to_thread=True,
        summary="One document (an id may contain '/', sent as is or as %2F)",
    )
    def get_document(
        name: str, doc_id: str, request: Request[Any, Any, Any], with_vectors: bool = False
    ) -> Document:
        doc_id = _path_id(doc_id)
        svc.authorize(request, "read", name)
        idx, _ = svc.index(name)
        with m.timed_redis("get"):
            doc = idx.get([doc_id], with_vectors=with_vectors)[0]
        if doc is None:
            raise ApiError(404, f"no document '{doc_id}' in index '{name}'", "document_not_found")
        doc.pop("id", None)
        return Document(doc_id, doc)

    @delete(
        "/v1/indexes/{name:str}/documents/{doc_id:path}",
        status_code=200,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Delete one document (an id may contain '/')",
    )
    def delete_document(name: str, doc_id: str, request: Request[Any, Any, Any]) -> DeleteResponse:
        doc_id = _path_id(doc_id)
        svc.authorize(request, "write", name)
        idx, _ = svc.index(name)
        with m.timed_redis("delete"):
            deleted = idx.delete([doc_id])
        if not deleted:
            raise ApiError(404, f"no document '{doc_id}' in index '{name}'", "document_not_found")
        return DeleteResponse(deleted)

    # -- indexes -------------------------------------------------------------------------

    @get("/v1/indexes", responses=_ERRORS, sync_to_thread=True, summary="Indexes you can see")
    def indexes(request: Request[Any, Any, Any]) -> IndexList:
        key = svc.authorize(request, "read")
        names = list_indexes(svc.client)
        return IndexList([n for n in names if key is None or key.sees(n)])

    @post(
        "/v1/indexes",
        status_code=201,
        responses={**_ERRORS, 409: ResponseSpec(ErrorBody, description="Index exists")},
        sync_to_thread=True,
        summary="Create an index from a schema",
    )
    def create_index(data: dict[str, Any], request: Request[Any, Any, Any]) -> dict[str, Any]:
        key = svc.principal(request)
        schema = IndexSchema.from_dict(data)
        svc.authorize(request, "write", schema.name)
        if key is not None and key.tenant is not None:
            for p in (schema.prefix, schema.document_prefix):
                if p and tenant_of(p) != key.tenant:
                    raise ApiError(
                        403,
                        f"prefix '{p}' is outside tenant '{key.tenant}': a tenant's prefixes "
                        f"carry its hash tag, e.g. 'doc:{{{key.tenant}}}:'",
                    )
        idx = SearchIndex.create(svc.client, schema)
        svc.forget(schema.name)
        return idx.info().to_dict()

    @get("/v1/indexes/{name:str}", responses=_ERRORS, sync_to_thread=True, summary="Index info")
    def index_info(name: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
        svc.authorize(request, "read", name)
        idx, _ = svc.index(name)
        return idx.info().to_dict()

    @delete(
        "/v1/indexes/{name:str}",
        status_code=200,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Drop an index (its documents too with delete_documents=true)",
    )
    def drop_index(
        name: str, request: Request[Any, Any, Any], delete_documents: bool = False
    ) -> dict[str, Any]:
        svc.authorize(request, "write", name)
        idx, _ = svc.index(name)
        idx.drop(delete_documents=delete_documents)
        svc.forget(name)
        return {"dropped": name, "documents_deleted": delete_documents}

    # -- tenants -------------------------------------------------------------------------

    def _tenant_admin(request: Request[Any, Any, Any]) -> None:
        key = svc.authorize(request, "write")
        if key is not None and key.tenant is not None:
            raise ApiError(
                403,
                f"API key '{key.id}' is bound to tenant '{key.tenant}' and cannot manage tenants",
            )

    @get("/v1/tenants", responses=_ERRORS, sync_to_thread=True, summary="Tenants you can see")
    def tenants(request: Request[Any, Any, Any]) -> TenantList:
        key = svc.authorize(request, "read")
        return TenantList(
            [
                TenantBody(t.name, t.created, t.indexes, t.documents)
                for t in list_tenants(svc.client)
                if key is None or key.tenant is None or key.tenant == t.name
            ]
        )

    @post(
        "/v1/tenants",
        status_code=201,
        responses={**_ERRORS, 409: ResponseSpec(ErrorBody, description="Tenant exists")},
        sync_to_thread=True,
        summary="Create a tenant (then create its indexes with a tagged prefix)",
    )
    def create_tenant_route(data: TenantCreate, request: Request[Any, Any, Any]) -> TenantBody:
        _tenant_admin(request)
        t = create_tenant(svc.client, data.name)
        return TenantBody(t.name, t.created, t.indexes, t.documents)

    @delete(
        "/v1/tenants/{tenant:str}",
        status_code=200,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Drop a tenant with its indexes and every key in its hash tag",
    )
    def drop_tenant_route(tenant: str, request: Request[Any, Any, Any]) -> dict[str, Any]:
        _tenant_admin(request)
        indexes, keys = drop_tenant(svc.client, tenant)
        for name in indexes:
            svc.forget(name)
        return {"dropped": tenant, "indexes": indexes, "keys": keys}

    # -- recommendations -----------------------------------------------------------------

    @get(
        "/v1/recommend/users/{user_id:str}",
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Items for a user, from what their nearest neighbours liked",
    )
    def recommend_user(
        user_id: str,
        request: Request[Any, Any, Any],
        recommender: str = "rec",
        n: Annotated[int, Parameter(ge=1, le=1000)] = 10,
        neighbours: Annotated[int, Parameter(ge=1, le=1000)] = 50,
        filter: Annotated[str | None, Parameter(max_length=2000)] = None,
    ) -> RecommendResponse:
        start = time.perf_counter()
        svc.authorize(request, "read", recommender)
        rec = svc.recommender(recommender)
        with m.timed_redis("recommend"):
            result = rec.recommend(user_id, n, neighbours=neighbours, filter=filter)
        return RecommendResponse(
            result.user,
            [RecommendedItem(r.item, r.score, r.because) for r in result.items],
            [Neighbour(u, s) for u, s in result.neighbours],
            result.fallback,
            _ms(start),
            result.reason,
        )

    @get(
        "/v1/recommend/items/{item_id:str}",
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Items similar to an item",
    )
    def similar_items(
        item_id: str,
        request: Request[Any, Any, Any],
        recommender: str = "rec",
        n: Annotated[int, Parameter(ge=1, le=1000)] = 10,
    ) -> SimilarResponse:
        start = time.perf_counter()
        svc.authorize(request, "read", recommender)
        rec = svc.recommender(recommender)
        with m.timed_redis("similar_items"):
            similar = rec.similar_items(item_id, n)
        return SimilarResponse(item_id, [SimilarItem(i, s) for i, s in similar], _ms(start))

    @post(
        "/v1/recommend/items",
        status_code=200,
        responses=_ERRORS,
        sync_to_thread=True,
        summary="Items like some examples and unlike others (recommend by example)",
    )
    def recommend_by_example(
        data: ByExampleRequest, request: Request[Any, Any, Any]
    ) -> ByExampleResponse:
        start = time.perf_counter()
        svc.authorize(request, "read", data.recommender)
        rec = svc.recommender(data.recommender)
        flt = (
            filter_from_json(data.filter, rec.items.schema)
            if isinstance(data.filter, dict)
            else data.filter
        )
        with m.timed_redis("recommend_by_example"):
            items = rec.by_example(
                data.positive, data.negative, n=data.n, strategy=data.strategy, filter=flt,
                exclude=data.exclude,
            )  # fmt: skip
        return ByExampleResponse(
            [RecommendedItem(r.item, r.score, r.because) for r in items],
            data.strategy,
            _ms(start),
        )

    # -- operations ----------------------------------------------------------------------

    @get("/healthz", summary="The process is up", include_in_schema=True)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/readyz",
        sync_to_thread=True,
        responses={
            404: ResponseSpec(ErrorBody, description="No such index (with ?index=)"),
            503: ResponseSpec(ReadyResponse, description="Not ready"),
        },
        summary="Redis answers, has the modules, and every index is fully indexed",
    )
    def readyz(
        request: Request[Any, Any, Any], index: str | None = None
    ) -> Response[ReadyResponse]:
        # With API keys on, a caller without a key learns ready or not and nothing else:
        # index names (every tenant's) and whether an index exists need a 'metrics' key.
        detail = svc.config.keys is None
        if not detail:
            presented = request.headers.get("authorization") or request.headers.get("x-api-key")
            if presented or index:
                svc.authorize(request, "metrics")
                detail = True
        try:
            modules = loaded_modules(svc.client)
            missing = [label for n, label in REQUIRED_MODULES.items() if n not in modules]
            if missing:
                return _not_ready("up", {}, f"Redis lacks {' and '.join(missing)}", detail)
            names = [index] if index else list_indexes(svc.client)
            progress = {}
            for n in names:
                try:
                    progress[n] = index_progress(svc.client, n)
                except Exception as e:
                    if index and is_missing_index(e):
                        raise IndexNotFoundError(f"no index named '{index}'") from None
                    raise
        except IndexNotFoundError:
            raise
        except Exception as e:
            return _not_ready("down", {}, f"Redis is unavailable: {e}", detail)
        shares = {n: p.percent_indexed for n, p in progress.items()}
        waiting = [n for n, p in progress.items() if not p.ready]
        if waiting:
            return _not_ready("up", shares, f"still indexing: {', '.join(waiting)}", detail)
        if not detail:
            return Response(ReadyResponse(True), status_code=200)
        return Response(ReadyResponse(True, "up", shares), status_code=200)

    @get("/metrics", sync_to_thread=True, include_in_schema=False)
    def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        # Metrics name every index of every tenant: with API keys on they need a key
        # with the 'metrics' scope (Prometheus: authorization.credentials).
        svc.authorize(request, "metrics")
        return Response(m.exposition(), media_type=METRICS_CONTENT_TYPE)

    @get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request[Any, Any, Any]) -> Response[Any]:
        return Response(_openapi_document(request.app), media_type="application/json")

    @get("/", include_in_schema=False)
    async def page() -> Response[bytes]:
        html = resources.files("redvec.api").joinpath("static/index.html").read_bytes()
        return Response(html, media_type="text/html; charset=utf-8")

    return [
        search,
        search_batch,
        upsert,
        enqueue_documents,
        get_document,
        delete_document,
        indexes,
        create_index,
        index_info,
        drop_index,
        tenants,
        create_tenant_route,
        drop_tenant_route,
        recommend_user,
        recommend_by_example,
        similar_items,
        healthz,
        readyz,
        metrics,
        openapi,
        page,
    ]


def _openapi_document(app: Litestar) -> dict[str, Any]:
    """Litestar's document, plus what it leaves out: request bodies refuse unknown
    fields (msgspec's ``forbid_unknown_fields``), so clients and fuzzers know it."""
    schema = app.openapi_schema
    components = schema.components.schemas if schema.components else None
    for name, struct in vars(models).items():
        if (
            isinstance(struct, type)
            and issubclass(struct, msgspec.Struct)
            and struct.__struct_config__.forbid_unknown_fields
            and components
            and name in components
        ):
            components[name].additional_properties = False
    return schema.to_schema()


def _not_ready(
    redis_state: str, shares: dict[str, float], reason: str, detail: bool = True
) -> Response[ReadyResponse]:
    body = ReadyResponse(False, redis_state, shares, reason) if detail else ReadyResponse(False)
    return Response(
        body,
        status_code=503,
        headers={"Retry-After": "1"},
    )


def _body_rules(request: Request[Any, Any, Any]) -> None:
    """Every body this service reads is JSON: another content type is a 415, a missing
    body a 400 with a sentence (not Litestar's bare "'data'")."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if (length is None or length.strip() == "0") and not chunked:
        raise ApiError(
            400, f"{request.method} {request.url.path} needs a JSON body; the request had none"
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            f"the body must be JSON (Content-Type: application/json), got "
            f"{content_type or 'no Content-Type'!r}",
        )


def _metrics_middleware(svc: Service) -> Callable[[ASGIApp], ASGIApp]:
    """Count and time every routed request by its route template and final status."""

    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def capture(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                key = (scope.get("path_template") or "unmatched", scope.get("method", "GET"))
                series = children.get((*key, status))
                if series is None:  # labels() costs a lock and a lookup: once per series
                    series = children[(*key, status)] = (
                        svc.metrics.requests.labels(*key, str(status)),
                        svc.metrics.latency.labels(*key),
                    )
                series[0].inc()
                series[1].observe(time.perf_counter() - start)

        return middleware

    return factory


def create_app(config: ServiceConfig) -> ASGIApp:
    svc = Service(config)

    async def close() -> None:
        await svc.aclose()

    def settle() -> None:
        # Everything loaded so far lives as long as the process: move it out of the
        # collector's sight, so full collections under load walk only request garbage
        # (this cut p99 by a third in benchmarks/http_search.py).
        gc.collect()
        gc.freeze()

    app = Litestar(
        route_handlers=_routes(svc),
        exception_handlers=exception_handlers,
        middleware=[_metrics_middleware(svc)],
        before_request=_body_rules,
        request_max_body_size=config.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="redvec",
            version=_version(),
            description="Vector search on Redis: KNN with filters, hybrid search, documents, "
            "indexes. Scores are higher-is-better; distances are RediSearch's (lower is closer).",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        on_startup=[settle],
        on_shutdown=[close],
        debug=False,
    )
    app.state.service = svc
    if not config.fast_search:
        return app
    return fast_lane(app, functools.partial(_search, svc), config.max_body_bytes, svc.metrics)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("redvec")
    except PackageNotFoundError:
        return "0"


def create_app_from_env() -> ASGIApp:
    """The factory ``redvec serve`` hands its ASGI server, so that ``--workers`` can fork it."""
    from redvec.connection import resolve_url
    from redvec.settings import Settings

    s = Settings.from_env()
    keys: KeyRing | None = None
    if s.api_keys_file is not None:
        keys = KeyRing.from_file(s.api_keys_file)
    elif s.api_keys:
        keys = KeyRing.from_json(s.api_keys, "REDVEC_API_KEYS")
    return create_app(
        ServiceConfig(
            resolve_url(None, s),
            keys,
            s.max_body_bytes,
            s.index_cache_seconds,
            fast_search=s.fast_search,
        )
    )
