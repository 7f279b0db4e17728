"""The local model: both backends give the same vectors; the default one skips torch; the
int8 variant stays close to fp32 and is never mistaken for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

pytest.importorskip("sentence_transformers", reason="needs the local extra")
pytest.importorskip("onnxruntime", reason="needs the local extra")

from redvec.embeddings import EmbeddingError
from redvec.embeddings.local import LocalEmbedder, model_file

TEXTS = [
    "A cat sits on the mat.",
    "Stock markets fell sharply on Monday.",
    topics["try"][:2000],
    "",
]


def test_onnx_and_torch_backends_agree(tmp_path: Path) -> None:
    onnx = LocalEmbedder(backend="onnx", onnx_path=tmp_path / "m.onnx")
    torch = LocalEmbedder(backend="torch")
    a, b = onnx.embed(TEXTS), torch.embed(TEXTS)
    assert a.shape == b.shape == (4, 384) and a.dtype == np.float32
    assert (tmp_path / "m.onnx").exists()  # exported once, then reused
    np.testing.assert_allclose((a * b).sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    related, unrelated = a[0] @ onnx.embed(["A kitten is on the rug."])[0], a[0] @ a[1]
    assert related > unrelated + 0.3


def test_the_default_backend_never_imports_torch(tmp_path: Path) -> None:
    LocalEmbedder(backend="onnx", onnx_path=tmp_path / "m.onnx").embed(["warm the export"])
    code = (
        "import sys\n"
        "from redvec.embeddings.local import LocalEmbedder\n"
        "e = LocalEmbedder()\n"
        "v = e.embed(['hello'])\n"
        "print(e.active_backend, v.shape, 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "REDVEC_CACHE_DIR": str(tmp_path / "cache")}
    target = model_file("fp32", tmp_path / "cache")
    target.parent.mkdir(parents=True)
    os.link(tmp_path / "m.onnx", target)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnx", "(1,", "384)", "False"]


SENTENCES = [
    "The mitochondria is the powerhouse of the cell.",
    "Interest rates rose for the third time this year.",
    "A short one.",
    topics["with"][:1500],
    "Vaccines train the immune system to recognise a pathogen.",
    "The striker scored twice in the second half.",
    topics["function"][:3000],
    "Redis keeps its data in memory and persists it to disk.",
]


def test_int8_variant_stays_close_to_fp32_under_its_own_name() -> None:
    exact, fast = LocalEmbedder(), LocalEmbedder(variant="int8")
    assert (exact.variant, exact.name) == ("fp32", "local/all-MiniLM-L6-v2")
    assert fast.name == "local/all-MiniLM-L6-v2:int8"  # its own cache keys and record
    assert fast.onnx_path != exact.onnx_path
    a, b = exact.embed(SENTENCES), fast.embed(SENTENCES)
    assert (
        fast.onnx_path.exists()
        and fast.onnx_path.stat().st_size < exact.onnx_path.stat().st_size / 3
    )
    cosines = (a * b).sum(1)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.98, cosines
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    # A text's vector does not depend on the texts it is embedded with.
    alone = np.vstack([fast.embed([s]) for s in SENTENCES])
    np.testing.assert_allclose((alone * b).sum(1), 1.0, atol=1e-6)
    # Each paraphrase still finds its sentence first.
    questions = [
        "What produces energy inside cells?",
        "Did borrowing costs go up again?",
        "How do immunisations protect the body?",
        "Which database holds everything in RAM?",
    ]
    answers = [0, 1, 4, 7]
    q = fast.embed(questions)
    assert list((q @ b.T).argmax(1)) == answers == list((exact.embed(questions) @ a.T).argmax(1))


def test_texts_of_mixed_lengths_come_back_in_the_order_given() -> None:
    """Batches are grouped by length inside embed(); the rows must still match the input."""
    e = LocalEmbedder(batch_size=3)
    together = e.embed(SENTENCES)
    alone = np.vstack([e.embed([s]) for s in SENTENCES])
    np.testing.assert_allclose((together * alone).sum(1), 1.0, atol=1e-5)
    assert e.embed(["", "x"]).shape == (2, 384)


def test_an_unknown_variant_or_int8_on_torch_is_refused() -> None:
    with pytest.raises(EmbeddingError, match="model variant must be fp32 or int8, got 'int4'"):
        LocalEmbedder(variant="int4")
    with pytest.raises(EmbeddingError, match="the int8 variant runs on ONNX Runtime"):
        LocalEmbedder(variant="int8", backend="torch")
