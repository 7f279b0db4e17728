"""redvec as a LangChain vector store: :class:`RedvecVectorStore` (``pip install
'redvec[langchain]'``).

A LangChain ``Document`` is stored as one redvec document: its id, ``page_content`` in a
TEXT field (``text_field``), its embedding in a vector field (``vector_field``) and its
``metadata`` as redvec's metadata mapping, which every storage mode keeps exactly (types
and nesting; a metadata key ``id`` stays metadata). Metadata keys declared in
``metadata_fields`` (TAG, NUMERIC, TEXT, GEO fields) are indexed too, so that filters
can use them, and every filter is a pre-filter of the KNN search, never a post-filter.

Every method has a native async twin over :class:`redvec.AsyncSearchIndex` (an asyncio
Redis client), not LangChain's fallback of running the sync method in a thread. Scores:
``similarity_search_with_score`` gives RediSearch's distance (lower is closer; squared
L2 for L2); ``similarity_search_with_relevance_scores`` gives :attr:`redvec.Hit.similarity`
in [0, 1] for every metric. MMR reads the candidates' vectors in the same round trip as
the search and reorders them with :func:`redvec.diversity.maximal_marginal_relevance`.

Why this file is over 500 lines: LangChain's interface is one class, and each of its
methods has a native async twin beside it; the filter translation is what they share.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import redis
import redis.asyncio as aredis
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from redvec.aio import AsyncSearchIndex
from redvec.connection import connect, redis_client
from redvec.diversity import maximal_marginal_relevance
from redvec.errors import ConfigError, FilterError, IndexNotFoundError
from redvec.filters import Filter, Num, Tag, Text
from redvec.index import SearchIndex
from redvec.query import Hit, KnnQuery, SearchResult
from redvec.schema import Field, IndexSchema, TextField, VectorField
from redvec.storage import METADATA, storage_for

__all__ = ["RedvecVectorStore", "langchain_filter"]

_COMPARISONS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte")


def langchain_filter(spec: Mapping[str, Any], schema: IndexSchema) -> Filter:
    """A filter as LangChain users write it, as a redvec :class:`Filter`.

    ``{"source": "a", "year": {"$gte": 2000}}`` (conditions on several fields: all of
    them), ``{"$and": [...]}``, ``{"$or": [...]}``, ``{"$not": {...}}``; per field
    ``$eq $ne $in $nin`` (TAG, NUMERIC, TEXT) and ``$gt $gte $lt $lte`` (NUMERIC). A
    field must be declared in the schema (``metadata_fields``); anything else is a
    :class:`FilterError` naming it.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise FilterError("a filter is a non-empty mapping of fields to conditions")
    parts: list[Filter] = []
    for key, value in spec.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"'{key}' takes a non-empty list of filters")
            nodes = [langchain_filter(v, schema) for v in value]
            joined = nodes[0]
            for node in nodes[1:]:
                joined = (joined & node) if key == "$and" else (joined | node)
            parts.append(joined)
        elif key == "$not":
            parts.append(~langchain_filter(value, schema))
        elif key.startswith("$"):
            raise FilterError(f"unknown filter operator {key!r}; use $and, $or or $not")
        else:
            parts.append(_field_filter(key, value, schema))
    out = parts[0]
    for part in parts[1:]:
        out = out & part
    return out


def _field_filter(name: str, value: Any, schema: IndexSchema) -> Filter:
    try:
        kind = schema.field(name).kind
    except Exception:
        raise FilterError(
            f"cannot filter on '{name}': index '{schema.name}' does not index it; declare it "
            f"in metadata_fields (e.g. TagField('{name}') or NumericField('{name}'))"
        ) from None
    conditions = value if isinstance(value, Mapping) else {"$eq": value}
    parts: list[Filter] = []
    for op, operand in conditions.items():
        if op not in _COMPARISONS:
            raise FilterError(f"field '{name}': unknown operator {op!r}")
        parts.append(_condition(name, kind, op, operand))
    if not parts:
        raise FilterError(f"field '{name}': an empty condition")
    out = parts[0]
    for part in parts[1:]:
        out = out & part
    return out


def _condition(name: str, kind: str, op: str, operand: Any) -> Filter:
    if op in ("$in", "$nin"):
        if not isinstance(operand, list | tuple) or not operand:
            raise FilterError(f"field '{name}': {op} takes a non-empty list")
        any_of = _any_of(name, kind, list(operand))
        return any_of if op == "$in" else ~any_of
    if op in ("$eq", "$ne"):
        equal = _any_of(name, kind, [operand])
        return equal if op == "$eq" else ~equal
    if kind != "numeric":
        raise FilterError(f"field '{name}': {op} compares numbers; '{name}' is a {kind} field")
    num = Num(name)
    compared: Filter
    if op == "$gt":
        compared = num > operand
    elif op == "$gte":
        compared = num >= operand
    elif op == "$lt":
        compared = num < operand
    else:
        compared = num <= operand
    return compared


def _any_of(name: str, kind: str, values: list[Any]) -> Filter:
    if kind == "tag":
        return Tag(name).one_of([str(v) if isinstance(v, int | float) else v for v in values])
    if kind == "numeric":
        out: Filter = Num(name) == values[0]
        for v in values[1:]:
            out = out | (Num(name) == v)
        return out
    if kind == "text":
        phrase: Filter = Text(name) % str(values[0])
        for v in values[1:]:
            phrase = phrase | (Text(name) % str(v))
        return phrase
    raise FilterError(f"field '{name}': a {kind} field is filtered with redvec's own filters")


class RedvecVectorStore(VectorStore):
    """A LangChain vector store on a redvec index (created on the first write, from the
    first vector's size, unless ``schema`` or an existing index gives it).

    Args:
        embedding: the LangChain embeddings model.
        index_name: the index (and, by default, the key prefix ``<index_name>:``).
        redis_url: a Redis with the search module; else ``client`` (and for async
            ``async_client``), else ``REDIS_URL`` or the embedded server.
        schema: a full redvec schema (must hold ``text_field`` and ``vector_field``).
        storage, algorithm, distance: the index's storage mode (hash, json, split), HNSW
            or FLAT, COSINE, L2 or IP, when the store creates it.
        metadata_fields: metadata keys to index for filtering (redvec field objects).
    """

    def __init__(
        self,
        embedding: Embeddings,
        *,
        index_name: str = "langchain",
        redis_url: str | None = None,
        client: redis.Redis | None = None,
        async_client: aredis.Redis | None = None,
        schema: IndexSchema | None = None,
        storage: str = "hash",
        algorithm: str = "HNSW",
        distance: str = "COSINE",
        prefix: str | None = None,
        metadata_fields: Sequence[Field] = (),
        text_field: str = "text",
        vector_field: str = "embedding",
    ) -> None:
        self._embedding = embedding
        self.index_name = index_name
        self.text_field = text_field
        self.vector_field = vector_field
        self._redis_url = redis_url
        self.client = client if client is not None else connect(redis_url)
        self._aclient = async_client
        self._options = {
            "storage": storage, "algorithm": algorithm, "distance": distance,
            "prefix": prefix or f"{index_name}:",
        }  # fmt: skip
        self._metadata_fields: tuple[Field, ...] = tuple(metadata_fields)
        self._index: SearchIndex | None = None
        self._aindex: AsyncSearchIndex | None = None
        try:
            self._bind(SearchIndex.open(self.client, index_name))
        except IndexNotFoundError:
            if schema is not None:
                self._bind(SearchIndex.create(self.client, schema))

    # -- the index ------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        """The embeddings model that embeds documents and queries."""
        return self._embedding

    @property
    def index(self) -> SearchIndex | None:
        """The redvec index behind the store (None until the first write creates it)."""
        return self._index

    def _bind(self, index: SearchIndex) -> None:
        names = {f.name for f in index.schema.fields}
        if self.text_field not in names or self.vector_field not in names:
            raise ConfigError(
                f"index '{index.name}' has no text field '{self.text_field}' and vector field "
                f"'{self.vector_field}'; pass text_field= and vector_field= to name its own"
            )
        self._index = index
        self._aindex = None

    def _schema_for(self, dims: int) -> IndexSchema:
        o = self._options
        storage = str(o["storage"])
        return IndexSchema(
            self.index_name,
            str(o["prefix"]),
            (
                TextField(self.text_field),
                *self._metadata_fields,
                VectorField(
                    self.vector_field,
                    dims,
                    algorithm=str(o["algorithm"]),
                    distance=str(o["distance"]),
                ),
            ),
            storage=storage,  # type: ignore[arg-type]
            # A mode that keeps documents apart from the index (split) gets them its own
            # prefix, so that two stores never share one.
            document_prefix=(
                f"{self.index_name}_doc:"
                if storage_for(storage).default_document_prefix() is not None
                else None
            ),
        )

    def _async_client(self) -> aredis.Redis:
        if self._aclient is None:
            if self._redis_url is not None:
                self._aclient = redis_client(self._redis_url, aio=True)
            else:
                self._aclient = _async_twin(self.client)
        return self._aclient

    def _async_index(self) -> AsyncSearchIndex | None:
        if self._index is None:
            return None
        if self._aindex is None:
            self._aindex = AsyncSearchIndex(
                self._async_client(), self._index.schema, core=self._index.core
            )
        return self._aindex

    # -- writing --------------------------------------------------------------------

    def _documents(
        self,
        texts: Sequence[str],
        vectors: Sequence[Any],
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[str | None] | None,
    ) -> tuple[list[str], list[dict[str, Any]]]:
        if metadatas is not None and len(metadatas) != len(texts):
            raise ConfigError(f"{len(metadatas)} metadatas for {len(texts)} texts")
        if ids is not None and len(ids) != len(texts):
            raise ConfigError(f"{len(ids)} ids for {len(texts)} texts")
        chosen = [
            str(i) if i is not None else str(uuid.uuid4())
            for i in (ids if ids is not None else [None] * len(texts))
        ]
        docs = []
        for n, (doc_id, content, vector) in enumerate(zip(chosen, texts, vectors, strict=True)):
            meta = dict(metadatas[n] or {}) if metadatas is not None else {}
            docs.append({"id": doc_id, self.text_field: content, self.vector_field: vector,
                         METADATA: meta})  # fmt: skip
        return chosen, docs

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store ``texts`` (the same id replaces a document whole); returns the ids."""
        texts = list(texts)
        if not texts:
            return []
        vectors = self._embedding.embed_documents(texts)
        chosen, docs = self._documents(texts, vectors, metadatas, ids)
        if self._index is None:
            self._bind(SearchIndex.create(self.client, self._schema_for(len(vectors[0]))))
        assert self._index is not None
        self._index.upsert(docs)
        return chosen

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """As :meth:`add_texts`, on asyncio."""
        texts = list(texts)
        if not texts:
            return []
        vectors = await self._embedding.aembed_documents(texts)
        chosen, docs = self._documents(texts, vectors, metadatas, ids)
        if self._index is None:
            created = await AsyncSearchIndex.create(
                self._async_client(), self._schema_for(len(vectors[0]))
            )
            self._bind(SearchIndex(self.client, created.schema, core=created.core))
            self._aindex = created
        aindex = self._async_index()
        assert aindex is not None
        await aindex.upsert(docs)
        return chosen

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents among ``ids``, in that order (missing ids left out)."""
        if self._index is None or not ids:
            return []
        return self._as_documents(ids, self._index.get(list(ids)))

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """As :meth:`get_by_ids`, on asyncio."""
        aindex = self._async_index()
        if aindex is None or not ids:
            return []
        return self._as_documents(ids, await aindex.get(list(ids)))

    def _as_documents(
        self, ids: Sequence[str], found: list[dict[str, Any] | None]
    ) -> list[Document]:
        return [
            Document(
                page_content=d.get(self.text_field, ""), metadata=d.get(METADATA) or {}, id=str(i)
            )
            for i, d in zip(ids, found, strict=True)
            if d is not None
        ]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete the documents ``ids``; with None, every document (the index stays)."""
        if self._index is not None:
            if ids is None:
                self._index.clear()
            elif ids:
                self._index.delete(ids)
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """As :meth:`delete`, on asyncio."""
        aindex = self._async_index()
        if aindex is not None:
            if ids is None:
                await aindex.clear()
            elif ids:
                await aindex.delete(ids)
        return True

    # -- searching ------------------------------------------------------------------

    def _query(
        self, vector: Any, k: int, flt: Any, *, fields: list[str], fetch: int | None = None
    ) -> KnnQuery | None:
        if self._index is None:
            return None
        if isinstance(flt, Mapping):
            flt = langchain_filter(flt, self._index.schema)
        return KnnQuery(np.asarray(vector, dtype=np.float32), fetch or k, flt,
                        return_fields=fields)  # fmt: skip

    def _fields(self, with_vectors: bool = False) -> list[str]:
        fields = [self.text_field, METADATA]
        return [*fields, self.vector_field] if with_vectors else fields

    def _document(self, hit: Hit) -> Document:
        f = hit.fields
        return Document(page_content=f.get(self.text_field, ""), metadata=f.get(METADATA) or {},
                        id=hit.id)  # fmt: skip

    def _search(self, vector: Any, k: int, flt: Any, fields: list[str]) -> SearchResult | None:
        q = self._query(vector, k, flt, fields=fields)
        return None if q is None or self._index is None else self._index.query(q)

    async def _asearch(
        self, vector: Any, k: int, flt: Any, fields: list[str]
    ) -> SearchResult | None:
        q = self._query(vector, k, flt, fields=fields)
        aindex = self._async_index()
        return None if q is None or aindex is None else await aindex.query(q)

    def similarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to ``query`` among those ``filter`` admits (a
        LangChain filter dict, a redvec :class:`Filter` or redvec's string form)."""
        return [d for d, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    async def asimilarity_search(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """As :meth:`similarity_search`, on asyncio."""
        found = await self.asimilarity_search_with_score(query, k, filter, **kwargs)
        return [d for d, _ in found]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """As :meth:`similarity_search`, each with RediSearch's distance (lower is closer)."""
        vector = self._embedding.embed_query(query)
        return self._with_distance(self._search(vector, k, filter, self._fields()))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """As :meth:`similarity_search_with_score`, on asyncio."""
        vector = await self._embedding.aembed_query(query)
        return self._with_distance(await self._asearch(vector, k, filter, self._fields()))

    def _with_distance(self, result: SearchResult | None) -> list[tuple[Document, float]]:
        if result is None:
            return []
        return [(self._document(h), float(h.distance or 0.0)) for h in result.hits]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents nearest to ``embedding``."""
        result = self._search(embedding, k, filter, self._fields())
        return [] if result is None else [self._document(h) for h in result.hits]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: Any = None, **kwargs: Any
    ) -> list[Document]:
        """As :meth:`similarity_search_by_vector`, on asyncio."""
        result = await self._asearch(embedding, k, filter, self._fields())
        return [] if result is None else [self._document(h) for h in result.hits]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = self._embedding.embed_query(query)
        return self._with_similarity(self._search(vector, k, kwargs.get("filter"), self._fields()))

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        vector = await self._embedding.aembed_query(query)
        found = await self._asearch(vector, k, kwargs.get("filter"), self._fields())
        return self._with_similarity(found)

    def _with_similarity(self, result: SearchResult | None) -> list[tuple[Document, float]]:
        if result is None:
            return []
        return [(self._document(h), float(h.similarity or 0.0)) for h in result.hits]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """``k`` documents picked by maximal marginal relevance from the ``fetch_k``
        nearest (``lambda_mult`` 1: relevance only, 0: diversity only)."""
        vector = self._embedding.embed_query(query)
        return self.max_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, filter)

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """As :meth:`max_marginal_relevance_search`, on asyncio."""
        vector = await self._embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, filter
        )

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR around ``embedding``: the candidates' vectors come with the search."""
        _check_fetch(k, fetch_k)
        q = self._query(embedding, k, filter, fields=self._fields(True), fetch=fetch_k)
        if q is None or self._index is None:
            return []
        return self._mmr(embedding, self._index.query(q), k, lambda_mult)

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        **kwargs: Any,
    ) -> list[Document]:
        """As :meth:`max_marginal_relevance_search_by_vector`, on asyncio."""
        _check_fetch(k, fetch_k)
        q = self._query(embedding, k, filter, fields=self._fields(True), fetch=fetch_k)
        aindex = self._async_index()
        if q is None or aindex is None:
            return []
        return self._mmr(embedding, await aindex.query(q), k, lambda_mult)

    def _mmr(self, query: Any, result: SearchResult, k: int, lambda_mult: float) -> list[Document]:
        hits = [h for h in result.hits if h.fields.get(self.vector_field) is not None]
        if not hits:
            return []
        rows = np.asarray([h.fields[self.vector_field] for h in hits], dtype=np.float32)
        order = maximal_marginal_relevance(query, rows, k, lambda_mult)
        return [self._document(hits[i]) for i in order]

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> RedvecVectorStore:
        """A store (``kwargs`` as the constructor's) holding ``texts``."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[Any, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> RedvecVectorStore:
        """As :meth:`from_texts`, writing on asyncio."""
        store = cls(embedding, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_existing_index(
        cls, index_name: str, embedding: Embeddings, **kwargs: Any
    ) -> RedvecVectorStore:
        """A store on the index ``index_name``, which must exist
        (:class:`IndexNotFoundError` otherwise)."""
        store = cls(embedding, index_name=index_name, **kwargs)
        if store.index is None:
            raise IndexNotFoundError(f"no index named '{index_name}'")
        return store


def _check_fetch(k: int, fetch_k: int) -> None:
    if fetch_k < k:
        raise ConfigError(f"fetch_k ({fetch_k}) must be at least k ({k})")


def _async_twin(client: redis.Redis) -> aredis.Redis:
    """An asyncio client to the server ``client`` talks to (same address, database and
    credentials); TLS needs ``redis_url`` or ``async_client`` instead."""
    kw = client.connection_pool.connection_kwargs
    if client.connection_pool.connection_class.__name__.startswith("SSL"):
        raise ConfigError("async over TLS: pass redis_url= or async_client= to the store")
    common = {k: kw[k] for k in ("db", "username", "password") if kw.get(k) is not None}
    if kw.get("path"):
        return aredis.Redis(unix_socket_path=kw["path"], protocol=2, **common)
    return aredis.Redis(host=kw.get("host", "localhost"), port=kw.get("port", 6379),
                        protocol=2, **common)  # fmt: skip
