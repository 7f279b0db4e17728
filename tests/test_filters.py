"""Filters: user values are matched literally or refused, and never widen a result."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from redvec.errors import FilterError
from redvec.filters import Geo, Num, Tag, Text, conjoined_ranges, filter_from_json, parse_filter
from redvec.index import SearchIndex
from redvec.schema import GeoField, IndexSchema, NumericField, TagField, TextField, VectorField

TRICKY_TAGS = ["a", "b", "a|b", "}", "@x:{y}", "*", '"', "x y", "a\\", "-neg", "(p)"]
SCHEMA = IndexSchema(
    "tricky",
    "t:",
    (
        TagField("cat"),
        TextField("body"),
        NumericField("n"),
        GeoField("loc"),
        VectorField("v", dims=2, algorithm="FLAT", distance="L2"),
    ),
)


@pytest.fixture()
def idx(r: redis.Redis) -> SearchIndex:
    index = SearchIndex.create(r, SCHEMA)
    docs = [
        {
            "id": str(i),
            "cat": tag,
            "body": f"word{i} common -@()|~ text",
            "n": i,
            "loc": [2.35 + i * 0.01, 48.85],
            "v": [float(i), 1.0],
        }
        for i, tag in enumerate(TRICKY_TAGS)
    ]
    index.upsert(docs)
    index.wait_indexed()
    return index


def found(idx: SearchIndex, flt: object) -> set[str]:
    return set(idx.search([0.0, 1.0], 100, filter=flt).ids)  # type: ignore[arg-type]


@pytest.mark.parametrize("tag", TRICKY_TAGS)
def test_tag_values_match_literally(idx: SearchIndex, tag: str) -> None:
    assert found(idx, Tag("cat") == tag) == {str(TRICKY_TAGS.index(tag))}


def test_tag_values_that_look_like_syntax_do_not_widen(idx: SearchIndex) -> None:
    for value in ["a | b", "a}|@cat:{b", "*}", "} | @body:(common", "nothing"]:
        assert found(idx, Tag("cat") == value) == set()


def test_text_punctuation_cannot_change_the_query(idx: SearchIndex) -> None:
    with pytest.raises(FilterError, match="has no words"):
        Text("body") % "-@()|~"
    # "-word3" must not negate: it searches word3 (and only documents with it).
    assert found(idx, Text("body") % "-word3") == {"3"}
    assert found(idx, Text("body") % "word3 | @cat:{a}") == set()
    assert found(idx, Text("body").any("word3 word4")) == {"3", "4"}
    assert found(idx, Text("body") == "text common") == set()  # words not in this order
    assert len(found(idx, Text("body") == "word5 common")) == 1


def test_numeric_and_boolean_combinations(idx: SearchIndex) -> None:
    assert found(idx, Num("n").between(2, 4)) == {"2", "3", "4"}
    assert found(idx, Num("n").between(2, 4, inclusive=False)) == {"3"}
    assert found(idx, (Num("n") < 2) | (Num("n") > 9)) == {"0", "1", "10"}
    assert found(idx, ~(Num("n") >= 1)) == {"0"}
    assert found(idx, (Tag("cat") == ["a", "b"]) & ~(Num("n") == 0)) == {"1"}
    with pytest.raises(FilterError, match="numbers must be finite"):
        _ = Num("n") > float("nan")
    with pytest.raises(FilterError, match="expected a number"):
        _ = Num("n") > "1; DROP"


def test_geo_radius(idx: SearchIndex) -> None:
    # Docs sit 0.01 degree of longitude (~730 m at Paris) apart, starting at 2.35.
    assert found(idx, Geo("loc").within(2.35, 48.85, 1, "km")) == {"0", "1"}
    with pytest.raises(FilterError, match="not a valid lon, lat"):
        Geo("loc").within(200, 48, 1)


def test_string_form(idx: SearchIndex) -> None:
    assert found(idx, "cat:a|b") == {"0", "1"}
    assert found(idx, 'cat:"a|b"') == {"2"}
    assert found(idx, "n>=8 -cat:*") == {"8", "9", "10"}
    assert found(idx, "n:2..3 OR n=9") == {"2", "3", "9"}
    assert found(idx, "n:..1") == {"0", "1"}
    assert found(idx, "body:word7") == {"7"}
    assert found(idx, "") == set(map(str, range(len(TRICKY_TAGS))))
    with pytest.raises(FilterError, match="unknown field 'colour' in filter"):
        parse_filter("colour:red", SCHEMA)
    with pytest.raises(FilterError, match="cannot read filter term"):
        parse_filter("just-words", SCHEMA)


def test_json_form(idx: SearchIndex) -> None:
    flt = filter_from_json(
        {
            "or": [
                {"field": "cat", "tag": ["*", "}"]},
                {"and": [{"field": "n", "gte": 9}, {"not": {"field": "n", "eq": 10}}]},
            ]
        },
        SCHEMA,
    )
    assert found(idx, flt) == {"3", "5", "9"}
    with pytest.raises(FilterError, match="a filter leaf takes one of tag, text, geo"):
        filter_from_json({"field": "n", "between": [1, 2]}, SCHEMA)
    with pytest.raises(FilterError, match="field 'n' is a numeric field, not tag"):
        filter_from_json({"field": "n", "tag": "x"}, SCHEMA)


def test_empty_tag_is_refused() -> None:
    with pytest.raises(FilterError, match="a tag value cannot be empty"):
        _ = Tag("cat") == ""


@pytest.mark.parametrize("value", ["a\u0001b", "a\x1fb", "a\x7fb", "a\u0000b", "a\u0085b"])
def test_a_control_character_in_a_tag_is_refused_not_matched_to_another_tag(
    idx: SearchIndex, value: str
) -> None:
    """ "a\\u0001b" used to match the document tagged "a b"; "\\u0000" was a Redis error."""
    with pytest.raises(FilterError, match="control character"):
        found(idx, Tag("cat") == value)


def test_a_lone_surrogate_in_a_filter_value_is_refused(idx: SearchIndex) -> None:
    with pytest.raises(FilterError, match="surrogate"):
        found(idx, Tag("cat") == "a\ud800")
    with pytest.raises(FilterError, match="surrogate"):
        found(idx, filter_from_json({"field": "body", "text": "word1 \udfff"}, SCHEMA))


def test_a_deeply_nested_json_filter_is_refused_with_a_message(idx: SearchIndex) -> None:
    leaf: dict[str, object] = {"field": "cat", "tag": "a"}
    deep = leaf
    for _ in range(500):
        deep = {"not": deep}
    with pytest.raises(FilterError, match="deeper than 32"):
        filter_from_json(deep, SCHEMA)
    ok = leaf
    for _ in range(30):
        ok = {"and": [ok]}
    assert found(idx, filter_from_json(ok, SCHEMA)) == {"0"}


def test_a_filter_number_beyond_float_is_refused(idx: SearchIndex) -> None:
    with pytest.raises(FilterError, match="beyond the range of a float"):
        filter_from_json({"field": "n", "gte": 10**400}, SCHEMA)
    with pytest.raises(FilterError, match="finite"):
        filter_from_json({"field": "n", "lt": float("inf")}, SCHEMA)


@pytest.mark.parametrize("value", [None, 5, ["word1"], {"a": 1}])
def test_a_text_filter_of_something_other_than_a_string_is_refused(value: object) -> None:
    """null and 5 used to search for the words "None" and "5"."""
    with pytest.raises(FilterError, match="takes a string"):
        filter_from_json({"field": "body", "text": value}, SCHEMA)


def test_a_phrase_of_stop_words_only_is_refused_not_silently_empty(idx: SearchIndex) -> None:
    with pytest.raises(FilterError, match="only stop words"):
        found(idx, Text("body") == "the is a")
    with pytest.raises(FilterError, match="only stop words"):
        found(idx, parse_filter('body:"of the"', SCHEMA))
    assert found(idx, Text("body") == "word1 common") == {"1"}


@pytest.mark.parametrize(
    ("flt", "outside"),
    [
        (Num("p") >= 5, ["@p:[-inf (5]"]),
        (Num("p") > 5, ["@p:[-inf 5]"]),
        (Num("p") <= 9, ["@p:[(9 +inf]"]),
        (Num("p") < 9, ["@p:[9 +inf]"]),
        (Num("p").between(1, 9), ["@p:[-inf (1]", "@p:[(9 +inf]"]),
        (Num("p").between(1, 9, inclusive=False), ["@p:[-inf 1]", "@p:[9 +inf]"]),
        (Num("p") == 3, ["@p:[-inf (3]", "@p:[(3 +inf]"]),
    ],
)
def test_a_range_knows_the_values_outside_it(flt: Any, outside: list[str]) -> None:
    (only,) = conjoined_ranges(flt)
    assert only.complement() == outside
    assert only.negated_complement() == f"(-({' | '.join(outside)} | ismissing(@p)))"


def test_only_ranges_every_match_satisfies_are_conjoined() -> None:
    a, b = Num("a") >= 1, Num("b") < 2
    assert conjoined_ranges(a & (Tag("t") == "x") & b) == [a, b]
    assert conjoined_ranges(a | b) == []
    assert conjoined_ranges(~a) == []
    assert conjoined_ranges((a | b) & b) == [b]
