"""No text a user types can crash redis-server or make it refuse a query.

RediSearch 2.10.5 segfaults on an OR of stop words followed by a term; which words are
stop words is the index's own list. These tests run against the real embedded server
and check its process is still the same one after every batch.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import redis

from redvec.errors import ValidationError
from redvec.filters import STOPWORDS, Text
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TagField, TextField, VectorField

CUSTOM = ("hip", "hop", "foo")


def _pid(r: redis.Redis) -> int:
    return int(r.info("server")["process_id"])


def _index(r: redis.Redis, name: str, stopwords: tuple[str, ...] | None) -> SearchIndex:
    schema = IndexSchema(
        name,
        f"{name}:",
        (TextField("body"), TagField("tag"), VectorField("v", dims=4, algorithm="FLAT")),
        stopwords=stopwords,
    )
    idx = SearchIndex.create(r, schema)
    rng = np.random.default_rng(0)
    idx.upsert(
        [
            {
                "id": "1",
                "body": "hip hop art ismissing _ under_score",
                "tag": "a",
                "v": rng.random(4),
            },
            {"id": "2", "body": "foo bar the statin fractures", "tag": "b", "v": rng.random(4)},
        ]
    )
    idx.wait_indexed()
    return idx


def test_text_search_on_an_index_with_its_own_stop_words_keeps_the_server_up(
    r: redis.Redis,
) -> None:
    """The reported crash: FT.CREATE ... STOPWORDS 3 hip hop foo, then "hip hop art"."""
    r.execute_command(
        "FT.CREATE", "sw", "ON", "HASH", "PREFIX", 1, "sw:", "STOPWORDS", 3, *CUSTOM,
        "SCHEMA", "body", "TEXT", "v", "VECTOR", "FLAT", 6, "TYPE", "FLOAT32", "DIM", 4,
        "DISTANCE_METRIC", "L2",
    )  # fmt: skip
    r.hset("sw:1", mapping={"body": "hip hop art", "v": np.ones(4, np.float32).tobytes()})
    pid = _pid(r)
    idx = SearchIndex.open(r, "sw")
    assert idx.schema.stopwords == ("foo", "hip", "hop")
    idx.wait_indexed()
    assert idx.text_search("hip hop art").ids == ["1"]
    assert idx.hybrid_search("hip hop art", np.ones(4)).ids == ["1"]
    assert idx.text_search("is an art").ids == ["1"]  # default stop words are words here
    assert _pid(r) == pid


def test_index_created_by_redvec_with_stop_words_records_and_uses_them(r: redis.Redis) -> None:
    idx = _index(r, "own", CUSTOM)
    reopened = SearchIndex.open(r, "own")
    assert reopened.schema.stopwords == tuple(sorted(CUSTOM))
    assert reopened.text_search("hip hop art").ids == ["1"]
    with pytest.raises(ValidationError, match="no words to search for"):
        idx.text_search("hip hop foo")


def test_index_without_stop_words_searches_every_word(r: redis.Redis) -> None:
    idx = _index(r, "none", ())
    assert SearchIndex.open(r, "none").schema.stopwords == ()
    assert idx.text_search("the").ids == ["2"]


def test_lexer_keywords_are_searched_as_words(r: redis.Redis) -> None:
    """`_` and `ismissing` made RediSearch refuse the whole query."""
    idx = _index(r, "kw", None)
    assert idx.text_search("ismissing").ids == ["1"]
    assert idx.text_search("_ nothing").ids == ["1"]
    assert idx.text_search("art", filter=Text("body") % "ismissing").ids == ["1"]
    assert idx.hybrid_search("ismissing _", np.ones(4), 1).ids


_PUNCT = [*list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "=>", "||", "-(", "@body:", "$BLOB"]
_WORDS = ["hip", "hop", "art", "foo", "bar", "statin", "ismissing", "_", "inf", "AS", "KNN"]
_UNICODE = ["é", "日本", "ß", "\u200b", "🙂", "Ω", "\u0301"]


def _texts(rng: random.Random, n: int) -> list[str]:
    pool = [*STOPWORDS, *CUSTOM, *_WORDS, *_PUNCT, *_UNICODE]
    out = []
    for _ in range(n):
        parts = [rng.choice(pool) for _ in range(rng.randint(1, 7))]
        sep = rng.choice([" ", " | ", "", " OR ", "-"])
        out.append(sep.join(parts))
    return out


@pytest.mark.parametrize("stopwords", [None, CUSTOM, ()], ids=["default", "custom", "empty"])
def test_generated_text_queries_never_crash_or_break_the_parser(
    r: redis.Redis, stopwords: tuple[str, ...] | None
) -> None:
    idx = _index(r, "fz", stopwords)
    pid = _pid(r)
    rng = random.Random(15)
    texts = _texts(rng, 300)
    for start in range(0, len(texts), 50):
        for t in texts[start : start + 50]:
            calls = [
                lambda t=t: idx.text_search(t, 3),
                lambda t=t: idx.text_search(t, 3, match_all=True),
                lambda t=t: idx.hybrid_search(t, np.ones(4), 3),
                lambda t=t: idx.search(np.ones(4), 3, filter=Text("body").any(t)),
                lambda t=t: idx.search(np.ones(4), 3, filter=Text("body") == t),
            ]
            for call in calls:
                try:
                    call()
                except ValidationError as e:
                    # Only redvec's own refusals (no words left): never Redis refusing.
                    assert "Redis refused" not in str(e), (t, str(e))
        assert _pid(r) == pid, f"redis-server restarted after {texts[start : start + 50]}"
