"""Filter expressions that cannot be turned into query injections.

Build filters from Python (``Tag("category") == "finance"``), from the small string
form of the CLI (``category:finance price>=10``) or from the JSON form of the HTTP
API; all three become the same tree, checked against the index schema and rendered
with every user value escaped. Tag values escape every ASCII punctuation and space;
text values are reduced to word tokens, so no input can change the query's shape.

Why this file is over 500 lines: the filter tree, its three front doors (Python, the
string form, JSON) and the one renderer that escapes every value are one safety
contract; apart, a parser could produce a node the escaper does not know.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from redvec.errors import FilterError
from redvec.schema import IndexSchema

__all__ = [
    "Filter",
    "Geo",
    "Num",
    "Raw",
    "Tag",
    "Text",
    "escape_tag",
    "filter_from_json",
    "parse_filter",
    "text_tokens",
]

_TAG_SPECIAL = re.compile(r"([^\w\u0080-\U0010ffff])", re.ASCII)
_WORD = re.compile(r"\w+", re.UNICODE)
_GEO_UNITS = ("m", "km", "mi", "ft")


# C0 and C1 control characters and DEL: RediSearch's tag tokenizer treats some of them as
# spaces (so "a\x01b" matched the document tagged "a b") and NUL ends a query string.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

# Words RediSearch's query lexer reads as keywords, not terms (2.10: a bare ``ismissing``
# is the start of ``ismissing(@field)``, and a lone ``_`` is not a term): sent bare, each
# makes Redis refuse the whole query. :func:`query_word` quotes or escapes them.
LEXER_KEYWORDS = frozenset(["ismissing"])


def check_string(value: str, what: str) -> str:
    """``value`` if it can travel in a query: no control characters, no lone surrogates.

    Both are refused rather than dropped: a control character in a tag would match
    another tag, and a lone surrogate cannot be encoded as UTF-8 at all.
    """
    if _CONTROL.search(value):
        bad = _CONTROL.search(value)
        assert bad is not None
        raise FilterError(
            f"{what} {value!r} contains the control character {bad.group()!r} "
            f"(U+{ord(bad.group()):04X}); control characters cannot be searched"
        )
    if _SURROGATE.search(value):
        raise FilterError(
            f"{what} {value!r} contains a lone surrogate, which is not valid Unicode text"
        )
    return value


def escape_tag(value: str) -> str:
    """Backslash every ASCII character that is not a letter, digit or underscore.

    Control characters and lone surrogates are refused (:func:`check_string`).
    """
    if not isinstance(value, str):
        raise FilterError(f"tag values are strings, got {type(value).__name__}")
    if value == "":
        raise FilterError("a tag value cannot be empty")
    check_string(value, "tag value")
    return _TAG_SPECIAL.sub(r"\\\1", value)


def query_word(word: str, *, in_phrase: bool = False) -> str:
    """One word of :func:`text_tokens` as a query term that the lexer reads as a term
    (inside a quoted phrase keywords are terms already)."""
    if not in_phrase and word.lower() in LEXER_KEYWORDS:
        return f'"{word}"'  # a one-word phrase: the same match, never a keyword
    if word == "_":
        return "\\_"
    return word


# RediSearch's default stop words (redis.io, "Stop words"): never indexed, ignored in queries.
STOPWORDS = frozenset(
    [
        "a",
        "is",
        "the",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)


def stopwords_of(schema: IndexSchema | None) -> frozenset[str]:
    """The stop words of ``schema``'s index: its own list, else RediSearch's default."""
    if schema is None or schema.stopwords is None:
        return STOPWORDS
    return frozenset(w.lower() for w in schema.stopwords)


def text_tokens(
    text: str, *, drop_stopwords: bool = False, stopwords: frozenset[str] | None = None
) -> list[str]:
    """The words of ``text``: the only parts of free text that reach a query.

    ``drop_stopwords`` leaves out the stop words (``stopwords``, by default RediSearch's
    default list; pass the index's own list, :func:`stopwords_of`). They match nothing
    anyway, and RediSearch 2.10.5 crashes (SIGSEGV in its query parser) on an OR whose
    first two alternatives are stop words followed by a term, e.g. ``(is | an | hip)``:
    an ordinary sentence sent as a text query could take the server down, so every
    text query drops the stop words of the index it is sent to.
    """
    if not isinstance(text, str):
        raise FilterError(f"text values are strings, got {type(text).__name__}")
    words: list[str] = _WORD.findall(text)
    if drop_stopwords:
        drop = STOPWORDS if stopwords is None else stopwords
        return [w for w in words if w.lower() not in drop]
    return words


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FilterError(f"field '{field}': expected a number, got {value!r:.60}")
    try:
        number = float(value)
    except ValueError:
        raise FilterError(f"field '{field}': expected a number, got {value!r:.60}") from None
    except OverflowError:
        raise FilterError(
            f"field '{field}': the number {str(value)[:20]}... is beyond the range of a float"
        ) from None
    if not math.isfinite(number):
        raise FilterError(f"field '{field}': numbers must be finite, got {value!r}")
    return number


def _fmt(number: float) -> str:
    return repr(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


class Filter:
    """A node of a filter tree. Combine with ``&``, ``|`` and ``~``."""

    def render(self, schema: IndexSchema | None = None) -> str:
        """The query-language text of this filter, every user value escaped; with ``schema``, text
        conditions drop the index's stop words."""
        raise NotImplementedError

    def __and__(self, other: Filter) -> Filter:
        return _Bool("and", (self, other))

    def __or__(self, other: Filter) -> Filter:
        return _Bool("or", (self, other))

    def __invert__(self) -> Filter:
        return _Not(self)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class _Bool(Filter):
    op: str
    parts: tuple[Filter, ...]

    def render(self, schema: IndexSchema | None = None) -> str:
        joiner = " " if self.op == "and" else " | "
        return "(" + joiner.join(p.render(schema) for p in self.parts) + ")"


@dataclass(frozen=True)
class _Not(Filter):
    part: Filter

    def render(self, schema: IndexSchema | None = None) -> str:
        return f"(-{self.part.render(schema)})"


@dataclass(frozen=True)
class _Leaf(Filter):
    field: str
    kind: str
    body: str  # already escaped

    def render(self, schema: IndexSchema | None = None) -> str:
        if schema is not None:
            check_field(schema, self.field, self.kind)
        return f"@{self.field}:{self.body}"


@dataclass(frozen=True)
class _Range(_Leaf):
    """A numeric range, its bounds kept as rendered (``-inf``, ``(5``, ``9``, ``+inf``), so
    that the planner can write it as the negation of its complement (:func:`narrowed`)."""

    lo: str = "-inf"
    hi: str = "+inf"

    def complement(self) -> list[str]:
        """The ranges of values outside this one, as query text (none, one or two)."""
        out = []
        if self.lo != "-inf":
            edge = self.lo[1:] if self.lo.startswith("(") else "(" + self.lo
            out.append(f"@{self.field}:[-inf {edge}]")
        if self.hi != "+inf":
            edge = self.hi[1:] if self.hi.startswith("(") else "(" + self.hi
            out.append(f"@{self.field}:[{edge} +inf]")
        return out

    def negated_complement(self) -> str:
        """The same documents as this range for a field holding one number and indexing
        its missing values: neither outside the range nor without a value."""
        return "(-(" + " | ".join([*self.complement(), f"ismissing(@{self.field})"]) + "))"


def _range_leaf(name: str, lo: str, hi: str) -> _Range:
    return _Range(name, "numeric", f"[{lo} {hi}]", lo, hi)


def conjoined_ranges(flt: Filter) -> list[_Range]:
    """The numeric ranges that every match of ``flt`` must satisfy: ``flt`` itself, or the
    parts of its top-level intersection (a range under a union or a negation is not one)."""
    if isinstance(flt, _Range):
        return [flt]
    if isinstance(flt, _Bool) and flt.op == "and":
        return [r for part in flt.parts for r in conjoined_ranges(part)]
    return []


def narrowed(flt: Filter, ranges: Iterable[_Range]) -> Filter:
    """``flt`` with each of ``ranges`` (from :func:`conjoined_ranges`) written as the
    negation of its complement (:meth:`_Range.negated_complement`): the same documents
    where the fields hold one number each and index missing values, found faster when the
    complement is short (RediSearch checks each graph batch's candidates against the
    filter, and a wide numeric range is a union of many tree nodes)."""
    chosen = set(ranges)
    if isinstance(flt, _Range) and flt in chosen:
        return Raw(flt.negated_complement())
    if isinstance(flt, _Bool) and flt.op == "and":
        return _Bool("and", tuple(narrowed(part, chosen) for part in flt.parts))
    return flt


@dataclass(frozen=True)
class Raw(Filter):
    """A query fragment written by the programmer, passed through as it is (the seed's
    ``meta_data_query="@labels:{books}"``). Never build one from user input: it is
    the one filter that is not escaped."""

    query: str

    def render(self, schema: IndexSchema | None = None) -> str:
        """The expression as given: only for trusted, hand-written filters."""
        return self.query.strip() or "*"


def check_field(schema: IndexSchema, name: str, kind: str) -> None:
    """Refuse (:class:`FilterError`) a field the schema lacks or of another ``kind``."""
    known = {f.name: f.kind for f in schema.fields if f.kind != "vector"}
    if name not in known:
        raise FilterError(
            f"unknown field '{name}' in filter; index '{schema.name}' can filter on: "
            + (", ".join(f"{n} ({k})" for n, k in known.items()) or "nothing")
        )
    if known[name] != kind:
        raise FilterError(f"field '{name}' is a {known[name]} field, not {kind}")


@dataclass(frozen=True)
class Tag:
    """``Tag("category") == "finance"``, ``Tag("category").one_of(["a", "b"])``."""

    name: str

    def one_of(self, values: Iterable[str]) -> Filter:
        """Matches a document carrying any of ``values`` (an empty list is refused)."""
        values = list(values)
        if not values:
            raise FilterError(f"field '{self.name}': a tag filter needs at least one value")
        return _Leaf(self.name, "tag", "{" + " | ".join(escape_tag(v) for v in values) + "}")

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        if isinstance(value, list | tuple | set):
            return self.one_of(value)
        return self.one_of([value])  # type: ignore[list-item]

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return ~(self == value)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Num:
    """``Num("price") >= 10``, ``Num("price").between(10, 20)``."""

    name: str

    def _range(self, lo: str, hi: str) -> Filter:
        return _range_leaf(self.name, lo, hi)

    def between(self, lo: Any, hi: Any, *, inclusive: bool = True) -> Filter:
        """``lo <= field <= hi`` (both bounds exclusive with ``inclusive=False``);
        :class:`FilterError` for a bound that is not a number or a start above the end."""
        a, b = _number(lo, self.name), _number(hi, self.name)
        if a > b:
            raise FilterError(f"field '{self.name}': range start {lo} is above its end {hi}")
        prefix = "" if inclusive else "("
        return self._range(prefix + _fmt(a), prefix + _fmt(b))

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        n = _fmt(_number(value, self.name))
        return self._range(n, n)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return ~(self == value)

    def __gt__(self, value: Any) -> Filter:
        return self._range("(" + _fmt(_number(value, self.name)), "+inf")

    def __ge__(self, value: Any) -> Filter:
        return self._range(_fmt(_number(value, self.name)), "+inf")

    def __lt__(self, value: Any) -> Filter:
        return self._range("-inf", "(" + _fmt(_number(value, self.name)))

    def __le__(self, value: Any) -> Filter:
        return self._range("-inf", _fmt(_number(value, self.name)))

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class _TextLeaf(Filter):
    """A text condition, kept as words until it is rendered for an index: which words
    are stop words depends on the index (its own list, or RediSearch's default)."""

    field: str
    words: tuple[str, ...]
    mode: str  # "all", "any" or "phrase"
    original: str

    def render(self, schema: IndexSchema | None = None) -> str:
        if schema is not None:
            check_field(schema, self.field, "text")
        stop = stopwords_of(schema)
        if self.mode == "phrase":
            # A phrase keeps its stop words (RediSearch skips them itself, position-aware),
            # but one made only of stop words would silently match nothing.
            if all(w.lower() in stop for w in self.words):
                raise FilterError(
                    f"field '{self.field}': phrase {self.original!r} has only stop words "
                    f"({', '.join(self.words)}), which are not indexed, so it matches nothing"
                )
            return (
                f'@{self.field}:"'
                + " ".join(query_word(w, in_phrase=True) for w in self.words)
                + '"'
            )
        kept = [w for w in self.words if w.lower() not in stop]
        if not kept:
            raise FilterError(
                f"field '{self.field}': text filter {self.original!r} has no words to search "
                f"for (stop words such as 'the' or 'is' are not indexed)"
            )
        joiner = " " if self.mode == "all" else " | "
        return f"@{self.field}:(" + joiner.join(query_word(w) for w in kept) + ")"


@dataclass(frozen=True)
class Text:
    """``Text("body") % "words"`` (all words), ``.any(...)``, ``== "exact phrase"``.

    Stop words are dropped when the filter is rendered for an index, by that index's
    list; a filter left with no words is refused.
    """

    name: str

    def _leaf(self, text: object, mode: str) -> Filter:
        if not isinstance(text, str):
            raise FilterError(
                f"field '{self.name}': a text filter takes a string, got {type(text).__name__}"
            )
        check_string(text, f"field '{self.name}': text")
        words = tuple(text_tokens(text))
        if not words:
            raise FilterError(
                f"field '{self.name}': text filter {text!r} has no words to search for"
            )
        return _TextLeaf(self.name, words, mode, text)

    def __mod__(self, text: str) -> Filter:
        return self._leaf(text, "all")

    def any(self, text: str) -> Filter:
        """Matches documents whose field contains any word of ``text``."""
        return self._leaf(text, "any")

    def __eq__(self, text: object) -> Filter:  # type: ignore[override]
        return self._leaf(text, "phrase")

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Geo:
    """``Geo("location").within(lon, lat, radius, "km")``."""

    name: str

    def within(self, lon: Any, lat: Any, radius: Any, unit: str = "km") -> Filter:
        """Within ``radius`` ``unit`` (m, km, mi, ft) of (``lon``, ``lat``)."""
        x, y, rad = (_number(v, self.name) for v in (lon, lat, radius))
        if not -180 <= x <= 180 or not -85.05112878 <= y <= 85.05112878:
            raise FilterError(f"field '{self.name}': ({lon}, {lat}) is not a valid lon, lat")
        if rad <= 0:
            raise FilterError(f"field '{self.name}': radius must be positive, got {radius}")
        if unit not in _GEO_UNITS:
            raise FilterError(f"field '{self.name}': unit must be one of m, km, mi, ft")
        return _Leaf(self.name, "geo", f"[{_fmt(x)} {_fmt(y)} {_fmt(rad)} {unit}]")


# -- the string form (CLI) --------------------------------------------------------------

_TERM = re.compile(
    r"""\s*(?P<neg>-?)(?P<field>[A-Za-z_]\w*)(?P<op>>=|<=|!=|>|<|=|:)"""
    r"""(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]*))(?=\s|$)"""
)
_OR = re.compile(r"\s*OR(?=\s|$)", re.IGNORECASE)


def _parse_term(m: re.Match[str], schema: IndexSchema) -> Filter:
    name, op = m["field"], m["op"]
    quoted = m["quoted"] is not None
    value = re.sub(r"\\(.)", r"\1", m["quoted"]) if quoted else m["bare"]
    term = m.group(0).strip()
    if op != ":":
        check_field(schema, name, "numeric")
        n = Num(name)
        result = {
            "=": n.__eq__,
            "!=": n.__ne__,
            ">": n.__gt__,
            ">=": n.__ge__,
            "<": n.__lt__,
            "<=": n.__le__,
        }[op](value)
    else:
        known = {f.name: f.kind for f in schema.fields}
        if name not in known:
            check_field(schema, name, "tag")  # raises the unknown-field message
        kind = known[name]
        if kind == "tag":
            result = Tag(name).one_of([value] if quoted else value.split("|"))
        elif kind == "text":
            result = (Text(name) == value) if quoted else (Text(name) % value)
        elif kind == "numeric":
            lo, sep, hi = value.partition("..")
            if not sep:
                raise FilterError(f"numeric filter '{term}': write {name}:LO..HI or {name}>=N")
            if lo and hi:
                result = Num(name).between(lo, hi)
            else:
                lo_s = _fmt(_number(lo, name)) if lo else "-inf"
                hi_s = _fmt(_number(hi, name)) if hi else "+inf"
                result = _range_leaf(name, lo_s, hi_s)
        elif kind == "geo":
            parts = value.split(",")
            if len(parts) not in (3, 4):
                raise FilterError(f"geo filter '{term}': write {name}:LON,LAT,RADIUS[,UNIT]")
            result = Geo(name).within(*parts)
        else:
            raise FilterError(f"field '{name}' is a vector field and cannot be a filter")
    return ~result if m["neg"] else result


def parse_filter(text: str, schema: IndexSchema) -> Filter | None:
    """The CLI form: space-separated terms are ANDed, ``OR`` between terms ORs them.

    ``category:finance|tech`` (tag, any of), ``category:"a|b"`` (one literal tag),
    ``body:words`` (text, all words), ``body:"exact phrase"``, ``price>=10``,
    ``price:10..20``, ``loc:2.35,48.85,10,km``, ``-category:spam`` (negation).
    """
    groups: list[list[Filter]] = [[]]
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        if m := _OR.match(text, pos):
            groups.append([])
        elif m := _TERM.match(text, pos):
            groups[-1].append(_parse_term(m, schema))
        else:
            bad = text[pos:].split()[0]
            raise FilterError(
                f'cannot read filter term {bad!r}: write field:value, field:"quoted value", '
                f"field>=number, field:lo..hi, or -term to negate"
            )
        pos = m.end()
    if any(not g for g in groups):
        if len(groups) == 1:
            return None
        raise FilterError(f"cannot read filter {text!r}: OR needs a term on each side")
    ands = [g[0] if len(g) == 1 else _Bool("and", tuple(g)) for g in groups]
    return ands[0] if len(ands) == 1 else _Bool("or", tuple(ands))


# -- the JSON form (HTTP) ---------------------------------------------------------------


MAX_FILTER_DEPTH = 32


def filter_from_json(obj: Any, schema: IndexSchema, _depth: int = 0) -> Filter:
    """``{"and": [...]}``, ``{"or": [...]}``, ``{"not": {...}}`` over leaves such as
    ``{"field": "category", "tag": ["a", "b"]}``, ``{"field": "price", "gte": 10, "lt": 20}``,
    ``{"field": "body", "text": "words"}`` and
    ``{"field": "loc", "geo": {"lon": 2.35, "lat": 48.85, "radius": 10, "unit": "km"}}``.
    """
    if _depth > MAX_FILTER_DEPTH:
        raise FilterError(
            f"the filter nests and/or/not deeper than {MAX_FILTER_DEPTH} levels; flatten it"
        )
    if not isinstance(obj, dict):
        raise FilterError(f"a filter is a JSON object, got {type(obj).__name__}")
    for op in ("and", "or"):
        if op in obj:
            parts = obj[op]
            if len(obj) != 1 or not isinstance(parts, list) or not parts:
                raise FilterError(f"'{op}' takes a non-empty list of filters and nothing else")
            nodes = tuple(filter_from_json(p, schema, _depth + 1) for p in parts)
            return nodes[0] if len(nodes) == 1 else _Bool(op, nodes)
    if "not" in obj:
        if len(obj) != 1:
            raise FilterError("'not' takes one filter and nothing else")
        return ~filter_from_json(obj["not"], schema, _depth + 1)
    name = obj.get("field")
    if not isinstance(name, str):
        raise FilterError("a filter leaf needs 'field' (a field name) or and/or/not")
    rest = {k: v for k, v in obj.items() if k != "field"}
    if "tag" in rest and len(rest) == 1:
        check_field(schema, name, "tag")
        values = rest["tag"] if isinstance(rest["tag"], list) else [rest["tag"]]
        return Tag(name).one_of(values)
    if "text" in rest and len(rest) == 1:
        check_field(schema, name, "text")
        text_filter: Filter = Text(name) % rest["text"]
        return text_filter
    if "geo" in rest and len(rest) == 1:
        check_field(schema, name, "geo")
        g = rest["geo"]
        if not isinstance(g, dict) or not {"lon", "lat", "radius"} <= g.keys():
            raise FilterError(f"field '{name}': geo needs lon, lat and radius")
        return Geo(name).within(g["lon"], g["lat"], g["radius"], g.get("unit", "km"))
    ops = {"eq", "gt", "gte", "lt", "lte"}
    if rest and set(rest) <= ops:
        check_field(schema, name, "numeric")
        n = Num(name)
        if "eq" in rest:
            if len(rest) != 1:
                raise FilterError(f"field '{name}': 'eq' cannot be combined with a range")
            return n.__eq__(rest["eq"])
        lo, hi = "-inf", "+inf"
        if "gte" in rest:
            lo = _fmt(_number(rest["gte"], name))
        if "gt" in rest:
            lo = "(" + _fmt(_number(rest["gt"], name))
        if "lte" in rest:
            hi = _fmt(_number(rest["lte"], name))
        if "lt" in rest:
            hi = "(" + _fmt(_number(rest["lt"], name))
        return _range_leaf(name, lo, hi)
    raise FilterError(
        f"field '{name}': a filter leaf takes one of tag, text, geo, or eq/gt/gte/lt/lte; "
        f"got {', '.join(sorted(rest)) or 'nothing'}"
    )
