"""The one small protocol every reranker follows, and the registry of rerankers.

A reranker reorders a first stage's candidates (KNN, BM25 or hybrid hits): it reads the
query's text or vector and each candidate's text or stored vector, and answers the
positions of the candidates it keeps, best first, each with its own score. Rerankers say
which inputs they read (``reads_text``, ``reads_vectors``) so that the search fetches
exactly those in the same round trip as the candidates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from redvec.errors import ConfigError, RerankError, ValidationError

__all__ = [
    "RERANKERS",
    "Candidate",
    "NamedRerankers",
    "RerankError",
    "Reranker",
    "make_reranker",
    "reranker_from_options",
]

RERANKERS = ("mmr", "cross-encoder", "cohere", "tei")


@dataclass(frozen=True)
class Candidate:
    """One first-stage hit as a reranker sees it: its id, its text (the index's text
    fields joined; empty when none was read), its stored vector (None unless the reranker
    reads vectors) and its first-stage score (higher is better)."""

    id: str
    text: str
    vector: np.ndarray | None
    score: float


@runtime_checkable
class Reranker(Protocol):
    """Reorders candidates. ``name`` identifies the reranker and its settings (it is
    reported with the scores); ``reads_text`` / ``reads_vectors`` say what it needs."""

    @property
    def name(self) -> str:
        """The reranker and its settings, e.g. ``mmr(lambda=0.5)`` or ``cohere/rerank-v3.5``."""

    @property
    def reads_text(self) -> bool:
        """Whether it reads the query's text and the candidates' texts."""

    @property
    def reads_vectors(self) -> bool:
        """Whether it reads the query vector and the candidates' stored vectors."""

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """At most ``k`` (position in ``candidates``, score) pairs, best first; the scores
        are the reranker's own (higher is better). :class:`RerankError` when it fails."""


def make_reranker(kind: str, **options: Any) -> Reranker:
    """A reranker by name: ``mmr`` (``lambda_mult``), ``cross-encoder`` (``model``: a local
    directory or an installed package holding a sentence-transformers CrossEncoder),
    ``cohere`` (the Cohere-style ``POST /v2/rerank``: ``model``, ``base_url``, ``api_key``)
    or ``tei`` (Hugging Face text-embeddings-inference's ``POST /rerank``: ``base_url``).
    Unknown options are refused by the reranker's constructor, named."""
    kind = kind.lower()
    try:
        if kind == "mmr":
            from redvec.rerank.mmr import MmrReranker

            return MmrReranker(**options)
        if kind == "cross-encoder":
            from redvec.rerank.cross_encoder import CrossEncoderReranker

            return CrossEncoderReranker(**options)
        if kind == "cohere":
            from redvec.rerank.hosted import CohereReranker

            return CohereReranker(**options)
        if kind == "tei":
            from redvec.rerank.hosted import TeiReranker

            return TeiReranker(**options)
    except TypeError as e:
        raise ConfigError(f"reranker {kind}: {e}") from None
    raise ConfigError(f"unknown reranker {kind!r}: use {', '.join(RERANKERS)}")


def reranker_from_options(
    kind: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    lambda_mult: float | None = None,
) -> Reranker:
    """A reranker from a command line's options (``redvec search --rerank``, ``redvec bench
    retrieval --rerank``): ``model`` for cross-encoder (required) and cohere, ``base_url``
    for tei (required) and cohere, ``lambda_mult`` for mmr; an option the kind does not
    take is refused (:class:`ConfigError`) rather than ignored."""
    kind = kind.lower()
    takes = {
        "mmr": {"lambda_mult"},
        "cross-encoder": {"model"},
        "cohere": {"model", "base_url"},
        "tei": {"base_url"},
    }
    if kind not in takes:
        raise ConfigError(f"unknown reranker {kind!r}: use {', '.join(RERANKERS)}")
    given = {
        n: v
        for n, v in (("model", model), ("base_url", base_url), ("lambda_mult", lambda_mult))
        if v is not None
    }
    flags = {"model": "--rerank-model", "base_url": "--rerank-url", "lambda_mult": "--mmr-lambda"}
    for name in given:
        if name not in takes[kind]:
            raise ConfigError(f"{flags[name]} does not apply to the {kind} reranker")
    for name, needs in (("cross-encoder", "model"), ("tei", "base_url")):
        if kind == name and needs not in given:
            raise ConfigError(f"the {kind} reranker needs {flags[needs]}")
    return make_reranker(kind, **given)


class NamedRerankers:
    """The rerankers a service (HTTP or MCP) offers by name: ``mmr`` always (its lambda
    given per request), and those its operator configured (``REDVEC_RERANKERS``: JSON
    ``{"name": {"kind": "cross-encoder", "model": "/models/x"}, ...}``), built and checked
    at start. A request names one; it can never name a model path or a URL itself."""

    def __init__(self, specs: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._built: dict[str, Reranker] = {}
        for name, spec in (specs or {}).items():
            if name == "mmr":
                raise ConfigError("reranker name 'mmr' is built in; name yours otherwise")
            options = dict(spec)
            kind = options.pop("kind", None)
            if not isinstance(kind, str):
                raise ConfigError(
                    f"reranker '{name}' needs a 'kind': one of {', '.join(RERANKERS)}"
                )
            self._built[name] = make_reranker(kind, **options)

    @classmethod
    def from_json(cls, text: str | None, where: str = "REDVEC_RERANKERS") -> NamedRerankers:
        """The rerankers of a JSON object of specs; :class:`ConfigError` naming ``where``."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{where}: not valid JSON: {e}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f'{where}: expected {{"name": {{"kind": ..., ...}}, ...}}')
        return cls(data)

    @property
    def names(self) -> list[str]:
        """What a request may name: ``mmr`` and the configured ones."""
        return ["mmr", *sorted(self._built)]

    def get(self, name: str, lambda_mult: float | None = None) -> Reranker:
        """The reranker ``name``; ``lambda_mult`` is mmr's alone (None: 0.5).
        :class:`ValidationError` for a name not offered or a lambda for another kind."""
        if name == "mmr":
            return make_reranker("mmr", lambda_mult=0.5 if lambda_mult is None else lambda_mult)
        if name not in self._built:
            raise ValidationError(
                f"unknown reranker '{name}': this service offers {', '.join(self.names)}"
            )
        if lambda_mult is not None:
            raise ValidationError(f"'lambda' applies to the mmr reranker, not '{name}'")
        return self._built[name]
