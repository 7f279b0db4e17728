"""Documents of an index: upsert (all or none), enqueue for the worker, read, delete.

The service arrives by dependency injection (``svc``, provided by
:func:`redvec.api.app.create_app`); every rule a handler applies lives in the library
or in :mod:`redvec.api.service`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, delete, get, post, put

from redvec import keys
from redvec.api.answers import ERRORS, elapsed_ms
from redvec.api.errors import ApiError
from redvec.api.models import (
    DeleteResponse,
    Document,
    DocumentsRequest,
    EnqueueResponse,
    UpsertResponse,
)
from redvec.api.service import Service
from redvec.documents import document_id
from redvec.errors import ValidationError
from redvec.ingest.worker import enqueue
from redvec.usecases import DocumentsRefused, upsert_documents

__all__ = ["DocumentController", "answer_upsert", "path_id", "stream_for", "upsert_once"]


def stream_for(index: str) -> str:
    """The stream the HTTP service enqueues into; run `redvec worker --stream` on it."""
    return f"{keys.QUEUE}{index}"


def path_id(raw: str) -> str:
    """A document id from the rest of the path: ids written with '/' (a file's relative
    path, say) are read and deleted with the same '/' (or %2F, which servers decode)."""
    doc_id = raw[1:] if raw.startswith("/") else raw
    if not doc_id:
        raise ValidationError("the document id is empty")
    return doc_id


def upsert_once(svc: Service, name: str, data: DocumentsRequest) -> UpsertResponse:
    """One all-or-none upsert through :func:`redvec.usecases.upsert_documents`, counted in the
    service's metrics; a document stored but not indexed is a 422 naming it."""
    start = time.perf_counter()
    idx, _ = svc.index(name)
    try:
        done = upsert_documents(
            idx, data.documents, embedder=svc.embedder(idx, "documents"),
            timed=svc.metrics.timed_redis, embed_timed=svc.metrics.timed_embedding,
        )  # fmt: skip
    except DocumentsRefused as e:
        svc.metrics.rejected.labels(name).inc(e.refused)
        raise
    svc.metrics.embedded.labels(name).inc(done.embedded)
    svc.metrics.written.labels(name).inc(len(done.written))
    if done.failed:
        svc.metrics.rejected.labels(name).inc(len(done.failed))
        first, reason = next(iter(done.failed.items()))
        raise ApiError(
            422,
            f"document '{first}': {reason} ({len(done.failed)} of "
            f"{len(done.written) + len(done.failed)} documents not stored or not indexed; "
            f"the other {len(done.written)} were written)",
            "document_not_written",
        )
    return UpsertResponse(len(done.written), done.written, done.embedded, elapsed_ms(start))


def answer_upsert(
    svc: Service, name: str, data: DocumentsRequest, headers: Mapping[str, str]
) -> UpsertResponse:
    """One upsert request, from the HTTP route or the MCP tool alike: the caller's key
    checked for ``write`` on ``name``, then :func:`upsert_once`; a document refused for its
    vector's size is tried once more against the index read afresh (it may have been
    recreated with other dimensions behind the service's back)."""
    svc.authorize(headers, "write", name)
    try:
        return upsert_once(svc, name, data)
    except DocumentsRefused as e:
        if "has dimension" not in str(e) or not svc.stale(name):
            raise
        return upsert_once(svc, name, data)


class DocumentController(Controller):
    """Documents of an index: upsert (all or none), enqueue for the worker, read, delete."""

    path = "/"

    @put(
        "/v1/indexes/{name:str}/documents",
        status_code=200,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Upsert documents (all or none)",
    )
    def upsert(
        self, svc: Service, name: str, data: DocumentsRequest, request: Request[Any, Any, Any]
    ) -> UpsertResponse:
        """Write whole documents, all or none: those without a vector are embedded with the
        index's recorded provider; any refused document refuses the request."""
        return answer_upsert(svc, name, data, request.headers)

    @post(
        "/v1/indexes/{name:str}/documents:enqueue",
        status_code=202,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Hand documents to the stream worker",
    )
    def enqueue_documents(
        self, svc: Service, name: str, data: DocumentsRequest, request: Request[Any, Any, Any]
    ) -> EnqueueResponse:
        """Hand documents to the stream worker (`redvec worker`): answered once queued, written
        when the worker gets to them. Every document needs a usable id."""
        svc.authorize(request, "write", name)
        svc.index(name)  # 404 for an unknown index, before anything is queued
        stream = stream_for(name)
        for n, doc in enumerate(data.documents):
            if document_id(doc) is None:
                svc.metrics.rejected.labels(name).inc(1)
                raise ApiError(
                    422,
                    f"documents[{n}] has no usable 'id' (a string or integer); nothing was queued",
                    "invalid_document",
                )
        with svc.metrics.timed_redis("enqueue"):
            count = enqueue(svc.client, stream, data.documents)
        svc.metrics.enqueued.labels(name).inc(count)
        return EnqueueResponse(count, stream)

    @get(
        "/v1/indexes/{name:str}/documents/{doc_id:path}",
        responses=ERRORS,
        sync_to_thread=True,
        summary="One document (an id may contain '/', sent as is or as %2F)",
    )
    def get_document(
        self,
        svc: Service,
        name: str,
        doc_id: str,
        request: Request[Any, Any, Any],
        with_vectors: bool = False,
    ) -> Document:
        """One document by id (an id may contain '/'); vectors with ``with_vectors=true``."""
        doc_id = path_id(doc_id)
        svc.authorize(request, "read", name)
        idx, _ = svc.index(name)
        with svc.metrics.timed_redis("get"):
            doc = idx.get([doc_id], with_vectors=with_vectors)[0]
        if doc is None:
            raise ApiError(404, f"no document '{doc_id}' in index '{name}'", "document_not_found")
        doc.pop("id", None)
        return Document(doc_id, doc)

    @delete(
        "/v1/indexes/{name:str}/documents/{doc_id:path}",
        status_code=200,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Delete one document (an id may contain '/')",
    )
    def delete_document(
        self, svc: Service, name: str, doc_id: str, request: Request[Any, Any, Any]
    ) -> DeleteResponse:
        """Delete one document by id; answers whether it existed."""
        doc_id = path_id(doc_id)
        svc.authorize(request, "write", name)
        idx, _ = svc.index(name)
        with svc.metrics.timed_redis("delete"):
            deleted = idx.delete([doc_id])
        if not deleted:
            raise ApiError(404, f"no document '{doc_id}' in index '{name}'", "document_not_found")
        return DeleteResponse(deleted)
