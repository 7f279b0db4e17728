"""The public API is exactly ``redvec.__all__``: nothing public drifts in or out unseen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import redvec


def test_public_names_equal_all() -> None:
    public = {name for name in dir(redvec) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(redvec, name)).__name__ == "module"}
    assert public - modules == set(redvec.__all__) - {"__version__"}
    for name in redvec.__all__:
        assert hasattr(redvec, name), name


def test_every_error_derives_from_redvec_error() -> None:
    for name in redvec.__all__:
        obj = getattr(redvec, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, redvec.RedvecError), name


def test_the_demo_runs_and_leaves_nothing_running() -> None:
    demo = Path(__file__).resolve().parents[1] / "examples" / "quickstart.py"
    result = subprocess.run(
        [sys.executable, str(demo)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    nearest = lines[lines.index(next(x for x in lines if x.startswith("users nearest"))) + 1]
    assert nearest.split()[0] == "alice"
    semantic = lines[lines.index(next(x for x in lines if x.startswith("semantic search"))) + 1]
    assert semantic.split()[0].split("#")[0] in {"try", "compound"}  # the try statement's topic
    assert "ingested again: 0 embedded, 79 unchanged" in lines
    assert lines[-1] == "server stopped; nothing left running"
