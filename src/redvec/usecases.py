"""What users do with an index, done once for every front-end.

The CLI, the HTTP service (and the MCP server and LangChain store that build on them)
call these functions instead of re-deriving the rules: which mode a search runs in
(:func:`redvec.query.resolve_mode`), when and how text is embedded, which documents an
all-or-none upsert refuses and why. A front-end only turns its input into a
:class:`SearchSpec` or a list of documents, and the answer or the error into its own
output; the same request therefore means the same thing, and fails with the same
message, whichever way it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from redvec.aio import AsyncSearchIndex
from redvec.documents import text_to_embed
from redvec.embeddings import Embedder
from redvec.errors import ConfigError, DocumentError, ValidationError
from redvec.filters import Filter
from redvec.index import SearchIndex
from redvec.providers import query_embedder, remembered_text_fields
from redvec.query import KnnQuery, SearchMode, SearchResult, TextQuery, resolve_mode
from redvec.rerank import Rerank, fetch_k_for, first_stage_fields, reranked
from redvec.schema import IndexSchema

__all__ = [
    "DocumentsRefused",
    "SearchSpec",
    "Searched",
    "Upserted",
    "embed_missing",
    "knn_query",
    "operation_of",
    "search_by_text",
    "search_by_text_async",
    "upsert_documents",
]

Timer = Callable[[str], contextlib.AbstractContextManager[Any]]


@contextlib.contextmanager
def _untimed(_operation: str) -> Iterator[None]:
    yield


@dataclass(frozen=True)
class SearchSpec:
    """A search as a user asks for it: a text, a vector or both, and perhaps a mode.

    ``mode`` None lets :func:`redvec.query.resolve_mode` choose (hybrid for both,
    dense for a vector or for text the index can embed, else bm25). The weights and
    ``candidates`` apply to hybrid search only; ``ef_runtime``, ``hybrid_policy`` and
    ``batch_size`` to the vector side (:class:`redvec.query.KnnQuery`: None lets the
    planner choose how a filtered KNN runs). ``rerank`` adds a rerank stage
    (:class:`redvec.rerank.Rerank`): the search fetches ``fetch_k`` candidates, the
    reranker orders them, ``k`` are answered with both scores.
    """

    text: str | None = None
    vector: Any = None
    mode: SearchMode | str | None = None
    k: int = 10
    filter: Filter | str | None = None
    ef_runtime: int | None = None
    return_fields: list[str] | None = None
    offset: int = 0
    text_weight: float = 1.0
    vector_weight: float = 1.0
    candidates: int | None = None
    hybrid_policy: str | None = None
    batch_size: int | None = None
    rerank: Rerank | None = None


@dataclass(frozen=True)
class Searched:
    """A search's answer and the mode it ran in; ``chosen`` says the mode was chosen
    by the rule rather than asked for (the CLI says so when it fell back to bm25)."""

    result: SearchResult
    mode: SearchMode
    chosen: bool


def operation_of(mode: SearchMode) -> str:
    """The name a search of ``mode`` is timed under (``redvec_redis_seconds``)."""
    return {SearchMode.BM25: "text", SearchMode.HYBRID: "hybrid"}.get(mode, "search")


def _mode(spec: SearchSpec, index: str, can_embed: bool) -> SearchMode:
    mode = resolve_mode(
        spec.mode,
        index=index,
        has_text=spec.text is not None,
        has_vector=spec.vector is not None,
        can_embed=can_embed,
        ef_runtime=spec.ef_runtime,
    )
    if mode is SearchMode.HYBRID and spec.offset:
        raise ValidationError("'offset' is not supported with mode hybrid")
    if spec.rerank is not None and spec.offset:
        raise ValidationError(
            "'offset' is not supported with a rerank stage: ask for a larger k instead"
        )
    if mode is SearchMode.BM25 and (spec.hybrid_policy, spec.batch_size) != (None, None):
        raise ValidationError(
            "hybrid_policy and batch_size apply to the vector search of dense or hybrid"
        )
    return mode


def _text_query(spec: SearchSpec) -> TextQuery:
    assert spec.text is not None  # resolve_mode refuses bm25 without text
    return TextQuery(spec.text, spec.k, spec.filter, None, False, spec.return_fields, spec.offset)


def knn_query(spec: SearchSpec, vector: Any) -> KnnQuery:
    """The dense (KNN) query ``spec`` asks for, around ``vector``."""
    return KnnQuery(
        vector, spec.k, spec.filter, None, spec.ef_runtime, spec.hybrid_policy,
        spec.batch_size, spec.return_fields, spec.offset,
    )  # fmt: skip


def _hybrid_args(spec: SearchSpec) -> dict[str, Any]:
    return {
        "filter": spec.filter,
        "text_weight": spec.text_weight,
        "vector_weight": spec.vector_weight,
        "candidates": max(spec.candidates, spec.k) if spec.candidates else None,
        "ef_runtime": spec.ef_runtime,
        "hybrid_policy": spec.hybrid_policy,
        "batch_size": spec.batch_size,
        "return_fields": spec.return_fields,
    }


def _text_fields(schema: IndexSchema, stored: str | None) -> list[str]:
    """The text a reranker reads: the fields the index embeds (as
    :func:`redvec.providers.remembered_text_fields` says), from the stored setting."""
    if stored:
        return list(json.loads(stored))
    return [f.name for f in schema.fields if f.kind == "text"] or ["text"]


def _first_stage(spec: SearchSpec, schema: IndexSchema, text_fields: list[str]) -> SearchSpec:
    """``spec`` as the search before its rerank stage: ``fetch_k`` hits, with the fields the
    reranker reads."""
    assert spec.rerank is not None
    fetch_k = fetch_k_for(spec.k, spec.rerank.fetch_k)
    fields = first_stage_fields(schema, spec.return_fields, spec.rerank.reranker, text_fields)
    return dataclasses.replace(spec, k=fetch_k, return_fields=fields, rerank=None)


def _rerank(
    spec: SearchSpec, result: SearchResult, vector: Any, schema: IndexSchema, fields: list[str]
) -> SearchResult:
    assert spec.rerank is not None
    return reranked(
        result, spec.rerank.reranker, k=spec.k, query=spec.text, query_vector=vector,
        schema=schema, return_fields=spec.return_fields, text_fields=fields,
    )  # fmt: skip


def search_by_text(
    index: SearchIndex,
    spec: SearchSpec,
    *,
    embedder: Embedder | None = None,
    timed: Timer = _untimed,
) -> Searched:
    """Run ``spec`` on ``index``: choose the mode, embed the text when the mode needs a
    vector that was not given (with ``embedder``, else the index's recorded provider),
    and search. ``timed(operation)`` wraps the Redis round trips alone.

    Raises :class:`ValidationError` for a request that means nothing (the reason named)
    and :class:`ConfigError` when text must be embedded and no provider is known. With a
    rerank stage, the search fetches ``fetch_k`` candidates and the reranker answers ``k``
    (:class:`redvec.rerank.RerankError` when it fails).
    """
    if spec.rerank is None:
        return _search(index, spec, embedder, timed)
    can_embed = embedder is not None or index.get_setting("provider") is not None
    _mode(spec, index.name, can_embed)  # refuse a bad request before any round trip
    fields = _text_fields(index.schema, index.get_setting("text_fields"))
    first = _first_stage(spec, index.schema, fields)
    done, vector = _search_with_vector(index, first, embedder, timed)
    result = _rerank(spec, done.result, vector, index.schema, fields)
    return Searched(result, done.mode, done.chosen)


def _search(
    index: SearchIndex, spec: SearchSpec, embedder: Embedder | None, timed: Timer
) -> Searched:
    return _search_with_vector(index, spec, embedder, timed)[0]


def _search_with_vector(
    index: SearchIndex, spec: SearchSpec, embedder: Embedder | None, timed: Timer
) -> tuple[Searched, Any]:
    """The search, and the query vector it ran with (None for BM25)."""
    can_embed = embedder is not None or index.get_setting("provider") is not None
    mode = _mode(spec, index.name, can_embed)
    if mode is SearchMode.BM25:
        with timed(operation_of(mode)):
            result = index.text_query(_text_query(spec))
        return Searched(result, mode, spec.mode is None), spec.vector
    vector = spec.vector
    if vector is None:
        embedder = embedder or query_embedder(index)
        if embedder is None or spec.text is None:  # resolve_mode refused both already
            raise ConfigError(f"index '{index.name}' has no embedding provider recorded")
        vector = embedder.embed([spec.text])[0]
    if mode is SearchMode.HYBRID:
        assert spec.text is not None
        plan = index.hybrid_plan(spec.text, vector, spec.k, **_hybrid_args(spec))
        with timed(operation_of(mode)):
            result = index.hybrid(plan)
    else:
        with timed(operation_of(mode)):
            result = index.query(knn_query(spec, vector))
    return Searched(result, mode, spec.mode is None), vector


async def search_by_text_async(
    index: AsyncSearchIndex,
    spec: SearchSpec,
    *,
    embed: Callable[[list[str]], Awaitable[Any]] | None = None,
    timed: Timer = _untimed,
) -> Searched:
    """:func:`search_by_text` from asyncio: ``embed`` turns query texts into vectors
    (the caller decides where that runs: a provider is sync, so a thread); None means
    the index can embed nothing, as when it has no provider recorded. A rerank stage's
    reranker runs in a worker thread (a model or a hosted API blocks)."""
    if spec.rerank is None:
        return (await _search_async(index, spec, embed, timed))[0]
    can_embed = embed is not None and (await index.get_setting("provider")) is not None
    _mode(spec, index.name, can_embed)
    fields = _text_fields(index.schema, await index.get_setting("text_fields"))
    first = _first_stage(spec, index.schema, fields)
    done, vector = await _search_async(index, first, embed, timed)
    result = await asyncio.to_thread(_rerank, spec, done.result, vector, index.schema, fields)
    return Searched(result, done.mode, done.chosen)


async def _search_async(
    index: AsyncSearchIndex,
    spec: SearchSpec,
    embed: Callable[[list[str]], Awaitable[Any]] | None,
    timed: Timer,
) -> tuple[Searched, Any]:
    can_embed = embed is not None and (await index.get_setting("provider")) is not None
    mode = _mode(spec, index.name, can_embed)
    if mode is SearchMode.BM25:
        with timed(operation_of(mode)):
            result = await index.text_query(_text_query(spec))
        return Searched(result, mode, spec.mode is None), spec.vector
    vector = spec.vector
    if vector is None:
        assert embed is not None and spec.text is not None  # resolve_mode checked
        vector = (await embed([spec.text]))[0]
    if mode is SearchMode.HYBRID:
        assert spec.text is not None
        plan = await index.hybrid_plan(spec.text, vector, spec.k, **_hybrid_args(spec))
        with timed(operation_of(mode)):
            result = await index.hybrid(plan)
    else:
        with timed(operation_of(mode)):
            result = await index.query(knn_query(spec, vector))
    return Searched(result, mode, spec.mode is None), vector


# -- writing -----------------------------------------------------------------------------


class DocumentsRefused(DocumentError):
    """An all-or-none write refused before anything was written: ``problems`` lists
    each refused document (``index``, ``id``, ``message``), ``refused`` how many.
    A document the schema refuses answers ``invalid_document``; one that cannot be
    given a vector, ``invalid_request`` (the request must carry vectors or text)."""

    code = "invalid_document"

    def __init__(
        self, message: str, problems: list[dict[str, Any]], refused: int, *, code: str = ""
    ) -> None:
        super().__init__(message)
        self.problems = problems
        self.refused = refused
        if code:
            self.code = code  # type: ignore[misc]  # this instance's code, for the HTTP answer


@dataclass
class Upserted:
    """What an upsert did: the ids written (in order), how many vectors were made from
    text, and the documents Redis stored but did not index (id -> reason)."""

    written: list[str] = field(default_factory=list)
    embedded: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def embed_missing(
    index: SearchIndex,
    docs: list[dict[str, Any]],
    embedder: Embedder | None,
    text_fields: Sequence[str] | None = None,
    *,
    timed: Timer = _untimed,
) -> list[int]:
    """Give each document that lacks a vector one made from its text fields (the index's
    remembered ones by default: :func:`redvec.providers.remembered_text_fields`),
    in place; returns the positions embedded. ``timed("document")`` wraps the
    embedding call alone.

    Refuses (:class:`DocumentsRefused`, nothing embedded) when there is no embedder or a
    document has no text to embed: a document is never written without its vector.
    """
    vf = index.schema.vector_field()
    need = [n for n, d in enumerate(docs) if d.get(vf.name) is None]
    if not need:
        return []
    if embedder is None:
        first = docs[need[0]].get("id")
        raise DocumentsRefused(
            f"document '{first}' has no vector '{vf.name}' and index '{index.name}' has no "
            f"embedding provider recorded to make one; send vectors (nothing was written)",
            [{"index": need[0], "id": first, "message": "no vector"}],
            len(need),
            code="invalid_request",
        )
    fields = list(text_fields) if text_fields is not None else remembered_text_fields(index)
    texts = []
    for n in need:
        body = text_to_embed(docs[n].get(f) for f in fields)
        if not body:
            doc_id = docs[n].get("id")
            raise DocumentsRefused(
                f"document '{doc_id}' has no vector '{vf.name}' and no text in "
                f"{', '.join(fields)} to embed (nothing was written)",
                [{"index": n, "id": doc_id, "message": "no text to embed"}],
                1,
                code="invalid_request",
            )
        texts.append(body)
    with timed("document"):
        vectors = embedder.embed(texts)
    for n, vec in zip(need, vectors, strict=True):
        docs[n][vf.name] = vec
    return need


def upsert_documents(
    index: SearchIndex,
    documents: Sequence[Mapping[str, Any]],
    *,
    embedder: Embedder | None = None,
    text_fields: Sequence[str] | None = None,
    timed: Timer = _untimed,
    embed_timed: Timer = _untimed,
) -> Upserted:
    """Write ``documents`` all or none: embed those without a vector, check every one,
    and write only when none is refused.

    Raises :class:`DocumentsRefused` (nothing written) for a document without a vector
    and nothing to make one from, a document the schema refuses, or an id sent twice.
    A document Redis stores but RediSearch fails to index is reported in
    ``Upserted.failed``, beside the ids written: a write is never reported that did
    not happen.
    """
    docs = [dict(d) for d in documents]
    embedded = embed_missing(index, docs, embedder, text_fields, timed=embed_timed)
    encoded, problems = [], []
    first_at: dict[str, int] = {}
    for n, doc in enumerate(docs):
        try:
            doc_id, commands = index.encode(doc)
        except DocumentError as e:
            problems.append({"index": n, "id": doc.get("id"), "message": str(e)})
            continue
        if doc_id in first_at:
            message = (
                f"documents[{n}] repeats id '{doc_id}' of documents[{first_at[doc_id]}]: "
                f"send each document once"
            )
            problems.append({"index": n, "id": doc_id, "message": message})
            continue
        first_at[doc_id] = n
        encoded.append((doc_id, commands))
    if problems:
        raise DocumentsRefused(
            f"{problems[0]['message']} ({len(problems)} of {len(docs)} documents refused; "
            f"nothing was written)",
            problems,
            len(problems),
        )
    out = Upserted(embedded=len(embedded))
    with timed("upsert"):
        for lo in range(0, len(encoded), index.batch_size):
            report = index.write_documents(encoded[lo : lo + index.batch_size])
            out.written += report.written
            out.failed.update(report.failed)
    return out
