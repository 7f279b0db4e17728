"""The local model: both backends give the same vectors; the default one skips torch."""

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

from redvec.embeddings.local import LocalEmbedder

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
    (tmp_path / "cache" / "models").mkdir(parents=True)
    os.link(tmp_path / "m.onnx", tmp_path / "cache" / "models" / "all-MiniLM-L6-v2.onnx")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["onnx", "(1,", "384)", "False"]
