"""Building FT.SEARCH requests and reading their replies.

Every request is sent with ``DIALECT 2`` (the server default is 1, where ``$params``
and KNN do not parse). Vectors travel as ``PARAMS``; filters are rendered by
:mod:`redvec.filters`, so user values never reach the query string unescaped.

Distances are RediSearch's (lower is closer). Scores are "higher is better":
COSINE ``1 - distance`` (the cosine similarity), IP ``1 - distance`` (the inner
product), L2 ``1 / (1 + distance)`` (RediSearch's L2 distance is squared).

Why this file is over 500 lines: the builders and parsers of every search shape (KNN,
range, text, hybrid, batched) share the KNN clause, the filter rendering, the RETURN
clause and the reply decoder; kept together, one shape cannot render a filter or decode
a field differently from another.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redvec.errors import ValidationError
from redvec.filters import Filter, Raw, parse_filter, query_word, stopwords_of, text_tokens
from redvec.planner import SearchPlan, policy_of
from redvec.schema import IndexSchema, NumericField, TagField, VectorField
from redvec.storage import METADATA, WHOLE

__all__ = [
    "Hit",
    "KnnQuery",
    "RangeQuery",
    "SearchMode",
    "SearchResult",
    "TextQuery",
    "build_knn",
    "build_range",
    "build_text",
    "parse_reply",
    "resolve_mode",
    "return_names",
    "rrf_fuse",
    "score_of",
]

DIST = "__dist"
HYBRID_POLICIES = ("ADHOC_BF", "BATCHES")
MAX_K = 10_000


class Hit:
    """One result: ``distance`` is RediSearch's (lower is closer), ``score`` higher is
    better, ``similarity`` the distance mapped into [0, 1] (see :attr:`similarity`).
    After a rerank stage (:mod:`redvec.rerank`) ``rerank_score`` is the reranker's score
    (higher is better) and ``score`` and ``distance`` stay the first stage's."""

    __slots__ = ("_fields", "distance", "id", "metric", "rerank_score", "score")

    def __init__(
        self,
        id: str,
        distance: float | None,
        score: float,
        fields: dict[str, Any] | None = None,
        metric: str | None = None,
    ) -> None:
        self.id = id
        self.distance = distance
        self.score = score
        self._fields = {} if fields is None else fields
        self.metric = metric
        self.rerank_score: float | None = None

    @property
    def similarity(self) -> float | None:
        """The distance as a similarity in [0, 1], 1 for the query itself; None for a hit
        without a vector distance (BM25).

        COSINE and IP: ``1 - distance / 2``, i.e. ``(1 + cos) / 2`` (RediSearch's distance
        is ``1 - cos``, or ``1 - inner product``); exact for unit vectors, and clamped to
        [0, 1] otherwise (an inner product beyond 1, or the tiny negative distance float
        rounding gives a vector and itself). L2: ``1 / (1 + distance)`` (the distance is
        the squared Euclidean one), which is in (0, 1] for every distance.
        """
        d = self.distance
        if d is None or self.metric is None:
            return None
        if self.metric == "L2":
            return 1.0 / (1.0 + max(d, 0.0))
        return min(1.0, max(0.0, 1.0 - d / 2.0))

    @property
    def fields(self) -> dict[str, Any]:
        """The document fields the search returned (decoded by the schema)."""
        return self._fields

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        self._fields = value

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready data: id, score, distance, the rerank score when a rerank
        stage ran, and the fields."""
        out: dict[str, Any] = {"id": self.id, "score": self.score, "distance": self.distance}
        if self.rerank_score is not None:
            out["rerank_score"] = self.rerank_score
        out["fields"] = self.fields
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hit):
            return NotImplemented
        return (self.id, self.distance, self.score, self.fields) == (
            other.id,
            other.distance,
            other.score,
            other.fields,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaced

    def __repr__(self) -> str:
        return (
            f"Hit(id={self.id!r}, distance={self.distance!r}, score={self.score!r}, "
            f"fields={self.fields!r})"
        )


class _LazyHit(Hit):
    """A KNN hit whose fields are decoded when first read.

    Decoding every returned field was most of a search's Python cost (21 of ~30 µs for
    k 10 with three fields), and callers that rank, page or join by id never read
    them; the raw reply is small and already in memory, so holding it costs nothing.
    """

    __slots__ = ("_decoders", "_raw")

    def __init__(
        self,
        id: str,
        distance: float | None,
        score: float,
        raw: list[Any],
        decoders: dict[bytes, tuple[str, Callable[[bytes], Any]]],
        metric: str | None = None,
    ) -> None:
        self.id = id
        self.distance = distance
        self.score = score
        self.metric = metric
        self.rerank_score = None
        self._raw: list[Any] | None = raw  # _fields is set when this is decoded
        self._decoders = decoders

    @property
    def fields(self) -> dict[str, Any]:
        raw = self._raw
        if raw is not None:
            self._fields = _decode_fields(raw, self._decoders)
            self._raw = None
        return self._fields

    @fields.setter
    def fields(self, value: dict[str, Any]) -> None:
        self._fields = value
        self._raw = None


@dataclass
class SearchResult:
    """A search's answer: ``total`` (how many matched; for KNN at most offset + k) and the hits
    of the page, best first. A KNN's answer carries the ``plan`` it ran under
    (:class:`redvec.planner.SearchPlan`: the hybrid policy and why it was chosen)."""

    total: int
    hits: list[Hit]
    plan: SearchPlan | None = None

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.hits)

    @property
    def ids(self) -> list[str]:
        """The hits' document ids, best first."""
        return [h.id for h in self.hits]


@dataclass
class KnnQuery:
    """A KNN search: the ``k`` nearest to ``vector`` among documents matching ``filter``.

    ``ef_runtime`` tunes the HNSW search. ``hybrid_policy`` says how a filtered one runs:
    None or ``"auto"`` lets :mod:`redvec.planner` choose from the filter's match count;
    ``"adhoc_bf"`` (exact, over the filter's matches) and ``"batches"`` (the graph in
    batches of ``batch_size``) force a policy; ``"redisearch"`` leaves it to RediSearch.
    """

    vector: Any
    k: int = 10
    filter: Filter | str | None = None
    vector_field: str | None = None
    ef_runtime: int | None = None
    hybrid_policy: str | None = None
    batch_size: int | None = None
    return_fields: list[str] | None = None
    offset: int = 0


@dataclass
class RangeQuery:
    """Documents within ``radius`` (in the metric's distance) of ``vector``, at most ``k``."""

    vector: Any
    radius: float
    k: int = 10
    filter: Filter | str | None = None
    vector_field: str | None = None
    epsilon: float | None = None
    return_fields: list[str] | None = None
    offset: int = 0


@dataclass
class TextQuery:
    """A BM25 full-text search of ``text`` (every word, or any with ``match_all=False``)."""

    text: str
    k: int = 10
    filter: Filter | str | None = None
    text_field: str | None = None
    match_all: bool = False
    return_fields: list[str] | None = None
    offset: int = 0


class SearchMode(enum.StrEnum):
    """How a text query is searched: ``dense`` (embedded, KNN), ``bm25`` (full text) or
    ``hybrid`` (both, fused by reciprocal rank)."""

    DENSE = "dense"
    BM25 = "bm25"
    HYBRID = "hybrid"


def resolve_mode(
    mode: SearchMode | str | None,
    *,
    index: str,
    has_text: bool,
    has_vector: bool,
    can_embed: bool,
    ef_runtime: int | None = None,
) -> SearchMode:
    """The one rule for what a search request means, for the CLI, the HTTP service and
    the library alike (docs/query.md, "Search modes").

    Without a mode: text and a vector together are ``hybrid``; a vector alone, or text
    the index can embed (it has an embedding provider recorded), is ``dense``; text it
    cannot embed is ``bm25``, and the answer says so. A mode that cannot mean anything
    for the request is refused with the reason, never quietly changed.
    """
    if mode is None:
        if has_text and has_vector:
            return SearchMode.HYBRID
        if has_vector or can_embed:
            return SearchMode.DENSE
        if has_text:
            return SearchMode.BM25
        raise ValidationError("send a text query, a vector, or both")
    try:
        chosen = SearchMode(mode.lower() if isinstance(mode, str) else mode)
    except ValueError:
        raise ValidationError(f"mode must be one of dense, bm25 or hybrid, got {mode!r}") from None
    no_provider = (
        f"index '{index}' has no embedding provider recorded, so text cannot be embedded; "
        f"send a vector, or use mode bm25"
    )
    if chosen is SearchMode.BM25:
        if not has_text:
            raise ValidationError("mode bm25 searches text: send a text query")
        if has_vector:
            raise ValidationError(
                "mode bm25 searches text only: drop the vector, or use mode hybrid"
            )
        if ef_runtime is not None:
            raise ValidationError("ef_runtime applies to the vector search of dense or hybrid")
    elif chosen is SearchMode.DENSE:
        if has_text and has_vector:
            raise ValidationError(
                "mode dense takes a text query or a vector, not both (use mode hybrid)"
            )
        if not has_vector and not has_text:
            raise ValidationError("mode dense needs a text query or a vector")
        if not has_vector and not can_embed:
            raise ValidationError(no_provider)
    else:
        if not has_text:
            raise ValidationError(
                "mode hybrid fuses a text query with KNN: send 'text' (--text on the command line)"
            )
        if not has_vector and not can_embed:
            raise ValidationError(no_provider)
    return chosen


def score_of(distance: float, metric: str) -> float:
    """A distance as a higher-is-better score: COSINE and IP ``1 - distance``, L2
    ``1 / (1 + distance)``."""
    if metric == "L2":
        return 1.0 / (1.0 + distance)
    return 1.0 - distance


def _check_paging(k: int, offset: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValidationError(f"offset must be a non-negative integer, got {offset!r}")
    if k + offset > MAX_K:
        raise ValidationError(f"k + offset must not exceed {MAX_K}")


def render_filter(flt: Filter | str | None, schema: IndexSchema) -> str:
    """``flt`` as query text for this index (``*`` for none); a string is parsed as the CLI's
    filter form first, so no user value reaches the query unescaped."""
    if flt is None:
        return "*"
    return _render_cached(flt, schema)


@functools.lru_cache(maxsize=4096)
def _render_cached(flt: Filter | str, schema: IndexSchema) -> str:
    """Filters and schemas are immutable, so a filter sent again is rendered once."""
    if isinstance(flt, str):
        parsed = parse_filter(flt, schema)
        return "*" if parsed is None else parsed.render(schema)
    return flt.render(schema)


def _return_args(schema: IndexSchema, fields: list[str] | None, extra: list[str]) -> list[Any]:
    """RETURN clause: the named fields, else every non-vector field of the schema."""
    return list(_return_clause(schema, None if fields is None else tuple(fields), tuple(extra)))


@functools.lru_cache(maxsize=1024)
def return_names(schema: IndexSchema, fields: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The schema fields a search returns, checked: every storage mode returns the same
    names for the same request. ``$.name`` is accepted for the field ``name`` (as JSON
    users write it); a name the schema does not declare is an error, not ignored."""
    if fields is None:
        return None
    if isinstance(fields, str):
        raise ValidationError("return_fields is a list of field names")
    known = {f.name for f in schema.fields} | {METADATA, WHOLE}
    names: list[str] = []
    for raw in fields:
        name = raw[2:] if isinstance(raw, str) and raw.startswith("$.") else raw
        if name not in known:
            raise ValidationError(
                f"unknown return field {raw!r}; index '{schema.name}' has: "
                + ", ".join(f.name for f in schema.fields)
                + f" (and '{METADATA}', or '{WHOLE}' for the whole document)"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


@functools.lru_cache(maxsize=1024)
def _return_clause(
    schema: IndexSchema, fields: tuple[str, ...] | None, extra: tuple[str, ...]
) -> tuple[Any, ...]:
    names = schema.store.returned_in_search(schema, return_names(schema, fields))
    if names is None:  # the whole document: no RETURN clause (the distance comes too)
        return ()
    names = [*names, *extra]
    return ("RETURN", len(names), *names) if names else ("NOCONTENT",)


def _nearest_first(
    schema: IndexSchema,
    query: str,
    return_fields: list[str] | None,
    offset: int,
    k: int,
    params: list[Any],
) -> list[Any]:
    """The FT.SEARCH arguments shared by KNN and range queries: sorted by distance."""
    return [
        query,
        *_return_args(schema, return_fields, [DIST]),
        "SORTBY", DIST, "ASC",
        "LIMIT", offset, k,
        "PARAMS", len(params), *params,
        "DIALECT", 2,
    ]  # fmt: skip


def build_knn(
    schema: IndexSchema,
    q: KnnQuery,
    blob: bytes,
    default_ef: int | None = None,
    plan: SearchPlan | None = None,
) -> list[Any]:
    """FT.SEARCH arguments for a KNN query, run under ``plan`` (its policy and batch size
    replace the query's; without one, a named policy is sent as it is and ``auto`` leaves
    the choice to RediSearch). Everything but the vector depends only on the query's shape,
    which repeats from query to query: that part is built once and cached, and each query
    costs a list copy and the blob (the search path's overhead over a hand-written
    FT.SEARCH is what ``benchmarks/query_overhead.py`` measures)."""
    flt: Filter | str | None = q.filter
    if plan is not None and plan.filter is not None:
        flt = Raw(plan.filter)  # the planner's equivalent form, rendered from q.filter
    fields = None if q.return_fields is None else tuple(q.return_fields)
    if plan is None:
        policy, batch = q.hybrid_policy, q.batch_size
    else:
        policy, batch = plan.policy, plan.batch_size
    try:
        template, slot = _knn_template(
            schema, q.k, q.offset, flt, q.vector_field, q.ef_runtime, default_ef,
            policy, batch, fields,
        )  # fmt: skip
    except TypeError:  # an unhashable part (a list where a number belongs): check uncached
        template, slot = _knn_template.__wrapped__(
            schema, q.k, q.offset, flt, q.vector_field, q.ef_runtime, default_ef,
            policy, batch, fields,
        )  # fmt: skip
    args = list(template)
    args[slot] = blob
    return args


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as the positive integer ``BATCH_SIZE`` takes, or a clear refusal."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


@functools.lru_cache(maxsize=4096, typed=True)  # typed: k=True or 10.0 must not hit k=1, 10
def _knn_template(
    schema: IndexSchema,
    k: int,
    offset: int,
    flt: Filter | str | None,
    vector_field: str | None,
    ef_runtime: int | None,
    default_ef: int | None,
    hybrid_policy: str | None,
    batch_size: int | None,
    return_fields: tuple[str, ...] | None,
) -> tuple[tuple[Any, ...], int]:
    vf = schema.vector_field(vector_field)
    _check_paging(k, offset)
    params: list[Any] = ["BLOB", None]
    knn = f"KNN {k + offset} @{vf.name} $BLOB"
    ef = ef_runtime if ef_runtime is not None else default_ef
    policy = policy_of(hybrid_policy)
    if policy == "ADHOC_BF" and vf.algorithm == "HNSW":
        # Brute force over the filter's matches is exact: EF_RUNTIME means nothing there,
        # and RediSearch refuses the query if it is sent ("irrelevant for 'ADHOC_BF'").
        ef = None
    if ef is not None:
        if vf.algorithm != "HNSW":
            if ef_runtime is not None:
                raise ValidationError(f"ef_runtime applies to HNSW fields; '{vf.name}' is FLAT")
        else:
            if isinstance(ef, bool) or not isinstance(ef, int) or not 1 <= ef <= 1_000_000:
                raise ValidationError(
                    f"ef_runtime must be an integer from 1 to 1000000, got {ef!r}"
                )
            knn += " EF_RUNTIME $EF"
            params += ["EF", ef]
    if policy in HYBRID_POLICIES:
        if flt is None:
            raise ValidationError("hybrid_policy applies to filtered queries only")
        knn += f" HYBRID_POLICY {policy}"
    if batch_size is not None:
        if policy != "BATCHES":
            raise ValidationError("batch_size applies to hybrid_policy batches only")
        knn += " BATCH_SIZE $BS"
        params += ["BS", check_batch_size(batch_size)]
    where = render_filter(flt, schema)
    # A bare "*" stays bare: the server runs "(*)=>[KNN ...]" measurably slower.
    query = f"{where}=>[{knn} AS {DIST}]" if where == "*" else f"({where})=>[{knn} AS {DIST}]"
    args = _nearest_first(
        schema, query, None if return_fields is None else list(return_fields), offset, k, params
    )
    return tuple(args), len(args) - 2 - len(params) + 1  # [..., BLOB, <here>, ..., DIALECT, 2]


def build_range(schema: IndexSchema, q: RangeQuery, blob: bytes) -> list[Any]:
    """The FT.SEARCH arguments of a range query (VECTOR_RANGE, sorted by distance)."""
    vf = schema.vector_field(q.vector_field)
    _check_paging(q.k, q.offset)
    radius = float(q.radius)
    if not radius >= 0:
        raise ValidationError(f"radius must be a non-negative number, got {q.radius!r}")
    attrs = f"$YIELD_DISTANCE_AS: {DIST}"
    params: list[Any] = ["BLOB", blob, "R", repr(radius)]
    if q.epsilon is not None:
        if not float(q.epsilon) > 0:
            raise ValidationError(f"epsilon must be positive, got {q.epsilon!r}")
        attrs += "; $EPSILON: $EPS"
        params += ["EPS", repr(float(q.epsilon))]
    where = render_filter(q.filter, schema)
    head = "" if where == "*" else f"{where} "
    query = f"{head}@{vf.name}:[VECTOR_RANGE $R $BLOB]=>{{{attrs}}}"
    return _nearest_first(schema, query, q.return_fields, q.offset, q.k, params)


def build_text(schema: IndexSchema, q: TextQuery) -> list[Any]:
    """The FT.SEARCH arguments of a BM25 text query (stop words dropped, words escaped)."""
    _check_paging(q.k, q.offset)
    words = text_tokens(q.text, drop_stopwords=True, stopwords=stopwords_of(schema))
    if not words:
        raise ValidationError(
            f"text query {q.text[:200]!r} has no words to search for (stop words such as "
            f"'the' or 'is' are not indexed)"
        )
    joined = (" " if q.match_all else " | ").join(query_word(w) for w in words)
    if q.text_field is not None:
        f = schema.field(q.text_field)
        if f.kind != "text":
            raise ValidationError(f"field '{q.text_field}' is a {f.kind} field, not text")
        terms = f"@{f.name}:({joined})"
    else:
        terms = f"({joined})"
    where = render_filter(q.filter, schema)
    query = terms if where == "*" else f"{where} {terms}"
    return [
        query,
        "WITHSCORES",
        "SCORER",
        # RediSearch's "BM25" is not Okapi BM25: over an OR of terms it can rank a document
        # matching one term above one matching that term and another (measured on 2.10:
        # 0.47 vs 0.30). "BM25STD" is the standard formula.
        "BM25STD",
        *_return_args(schema, q.return_fields, []),
        "LIMIT",
        q.offset,
        q.k,
        "DIALECT",
        2,
    ]


# -- replies ----------------------------------------------------------------------------


def _number(raw: bytes) -> Any:
    # Integers come back as integers; anything with a point, exponent or inf as float.
    return int(raw) if raw.isdigit() or (raw[:1] == b"-" and raw[1:].isdigit()) else float(raw)


def _utf8(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _json_value(raw: bytes) -> Any:
    return json.loads(raw)


def _tag_decoder(separator: str, json_storage: bool) -> Callable[[bytes], Any]:
    if not json_storage:

        def decode_hash(raw: bytes) -> Any:
            value = raw.decode("utf-8", errors="replace")
            return value.split(separator) if separator in value else value

        return decode_hash

    def decode(raw: bytes) -> Any:
        value = raw.decode("utf-8", errors="replace")
        if value.startswith("["):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value.split(separator) if separator in value else value

    return decode


@functools.lru_cache(maxsize=256)
def _decoders(schema: IndexSchema) -> dict[bytes, tuple[str, Callable[[bytes], Any]]]:
    """Raw field name -> (name, decoder), built once per schema: parsing is the hot path."""
    out: dict[bytes, tuple[str, Callable[[bytes], Any]]] = {}
    for f in schema.fields:
        if isinstance(f, NumericField):
            out[f.name.encode()] = (f.name, _number)
        elif isinstance(f, TagField):
            out[f.name.encode()] = (f.name, _tag_decoder(f.separator, schema.store.tags_as_arrays))
        elif isinstance(f, VectorField):
            # Only returned when asked for: as a list of floats in every storage mode.
            out[f.name.encode()] = (f.name, schema.store.vector_decoder(f))
        else:
            out[f.name.encode()] = (f.name, _utf8)
    out[METADATA.encode()] = (METADATA, _json_value)  # JSON text in every mode's reply
    return out


def _decode_other(name_raw: Any, value: Any) -> tuple[str, Any]:
    name = name_raw.decode() if isinstance(name_raw, bytes) else str(name_raw)
    if not isinstance(value, bytes):
        return name, value
    return name, (_json_value(value) if name.startswith("$") else _utf8(value))


_DIST_RAW = DIST.encode()


def parse_reply(
    reply: list[Any],
    schema: IndexSchema,
    vector_field: VectorField | None,
    *,
    with_scores: bool = False,
    joined: bool = False,
    keep: tuple[str, ...] | None = None,
) -> SearchResult:
    """Turn a RESP2 FT.SEARCH reply into hits.

    ``joined`` is the split-storage script's layout: ``key, fields, json`` per hit; of
    the JSON document only the fields in ``keep`` are kept, when it is given.
    """
    decoders = _decoders(schema)
    if not with_scores and not joined and vector_field is not None:
        return _parse_knn(reply, decoders, schema.id_span, vector_field.distance)
    total = int(reply[0])
    hits: list[Hit] = []
    i = 1
    n = len(reply)
    span = schema.id_span
    metric = vector_field.distance if vector_field is not None else None
    while i < n:
        key = reply[i]
        doc_id = (key.decode("utf-8", "replace") if key.__class__ is bytes else str(key))[span]
        i += 1
        score = 0.0
        if with_scores:
            score = float(reply[i])
            i += 1
        raw_fields: list[Any] = []
        if i < n and isinstance(reply[i], list):
            raw_fields = reply[i]
            i += 1
        doc: Any = None
        if joined:
            doc = reply[i]
            i += 1
        fields: dict[str, Any] = {}
        distance: float | None = None
        it = iter(raw_fields)
        for name_raw, value in zip(it, it, strict=False):
            known = decoders.get(name_raw)
            if known is not None and value.__class__ is bytes:
                fields[known[0]] = known[1](value)
            elif name_raw == _DIST_RAW:
                distance = float(value)
            else:
                name, decoded = _decode_other(name_raw, value)
                fields[name] = decoded
        if joined and doc is not None:
            document = json.loads(doc)
            if keep is not None:
                document = {k: v for k, v in document.items() if k in keep}
            fields = {**document, **fields}
        if distance is not None and metric is not None:
            score = score_of(distance, metric)
        hits.append(Hit(doc_id, distance, score, fields, metric))
    return SearchResult(total, hits)


def _decode_fields(
    raw: list[Any], decoders: dict[bytes, tuple[str, Callable[[bytes], Any]]]
) -> dict[str, Any]:
    """``[name, value, ...]`` -> decoded fields; the distance is the hit's, not a field."""
    fields: dict[str, Any] = {}
    get = decoders.get
    for j in range(0, len(raw) - 1, 2):
        name_raw = raw[j]
        value = raw[j + 1]
        known = get(name_raw)
        if known is not None and value.__class__ is bytes:
            fields[known[0]] = known[1](value)
        elif name_raw != _DIST_RAW:
            name, decoded = _decode_other(name_raw, value)
            fields[name] = decoded
    return fields


def _distance_in(raw: list[Any]) -> float | None:
    # RediSearch sends the yielded distance first; look further only if it did not.
    if raw and raw[0] == _DIST_RAW:
        return float(raw[1])
    for j in range(2, len(raw) - 1, 2):
        if raw[j] == _DIST_RAW:
            return float(raw[j + 1])
    return None


def _parse_knn(
    reply: list[Any],
    decoders: dict[bytes, tuple[str, Callable[[bytes], Any]]],
    span: slice,
    metric: str,
) -> SearchResult:
    """The KNN reply (``key, [field, value, ...]`` per hit): ids and distances now, the
    fields when a caller reads them (see :class:`_LazyHit`)."""
    hits: list[Hit] = []
    append = hits.append
    n = len(reply)
    i = 1
    l2 = metric == "L2"
    while i < n:
        key = reply[i]
        doc_id = (key.decode("utf-8", "replace") if key.__class__ is bytes else str(key))[span]
        raw = reply[i + 1] if i + 1 < n and reply[i + 1].__class__ is list else None
        if raw is None:  # NOCONTENT: ids only
            i += 1
            append(Hit(doc_id, None, 0.0, {}, metric))
            continue
        i += 2
        distance = _distance_in(raw)
        if distance is None:
            append(_LazyHit(doc_id, None, 0.0, raw, decoders, metric))
        else:
            score = 1.0 / (1.0 + distance) if l2 else 1.0 - distance
            append(_LazyHit(doc_id, distance, score, raw, decoders, metric))
    return SearchResult(int(reply[0]), hits)


def rrf_fuse(rankings: list[list[Hit]], weights: list[float], k: int, rrf_k: int = 60) -> list[Hit]:
    """Reciprocal rank fusion: each list adds ``weight / (rrf_k + rank)`` to a hit's score."""
    fused: dict[str, Hit] = {}
    totals: dict[str, float] = {}
    for hits, weight in zip(rankings, weights, strict=True):
        for rank, hit in enumerate(hits, start=1):
            totals[hit.id] = totals.get(hit.id, 0.0) + weight / (rrf_k + rank)
            known = fused.get(hit.id)
            if known is None:
                fused[hit.id] = Hit(hit.id, hit.distance, 0.0, dict(hit.fields), hit.metric)
            else:
                if known.distance is None:
                    known.distance = hit.distance
                known.fields.update(hit.fields)
    order = sorted(fused, key=lambda doc_id: (-totals[doc_id], doc_id))[:k]
    out = []
    for doc_id in order:
        hit = fused[doc_id]
        hit.score = totals[doc_id]
        out.append(hit)
    return out
