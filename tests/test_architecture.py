"""Rules of the code's shape that keep one rule in one place (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "redvec"


def _imports(path: Path) -> list[tuple[str, str, int]]:
    tree = ast.parse(path.read_text())
    return [
        (node.module or "", alias.name, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]


def test_no_module_imports_a_private_name_of_another() -> None:
    """A name another module needs is public (and documented), so it can be found and
    kept; a private one may change under its users."""
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {name} from {module}"
        for path in SRC.rglob("*.py")
        for module, name, line in _imports(path)
        if module.startswith("redvec") and name.startswith("_") and not name.startswith("__")
    ]
    assert offenders == []
