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


def test_a_module_over_500_lines_says_why_at_its_top() -> None:
    """Big rooms hide rules: a module grows past ~500 lines only with its reason written
    in its docstring, where the next person to change it reads first."""
    offenders = []
    for path in SRC.rglob("*.py"):
        lines = path.read_text().count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > 520 and "over 500 lines" not in doc:
            offenders.append(f"{path.relative_to(SRC)}: {lines} lines")
    assert offenders == []


def test_only_settings_reads_the_environment() -> None:
    """One table of knobs (redvec.settings.ENVIRONMENT): a variable read elsewhere would
    be a knob nobody can find. The local model's module only sets Hugging Face's own
    offline switches, which those libraries read."""
    offenders = [
        f"{path.relative_to(SRC)}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).as_posix() not in ("settings.py", "embeddings/local.py")
        and ("os.environ" in path.read_text() or "os.getenv" in path.read_text())
    ]
    assert offenders == []


def _is_setter(node: ast.AST) -> bool:
    decorators = getattr(node, "decorator_list", [])
    return any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in decorators)


def test_every_public_name_says_what_it_promises() -> None:
    """Every public class, function and method has a docstring (a property's setter
    shares its getter's)."""
    missing: list[str] = []

    def walk(nodes: list[ast.stmt], path: Path, prefix: str) -> None:
        for node in nodes:
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if node.name.startswith("_") or _is_setter(node):
                continue
            if ast.get_docstring(node) is None:
                missing.append(f"{path.relative_to(SRC)}:{node.lineno} {prefix}{node.name}")
            if isinstance(node, ast.ClassDef):
                walk(node.body, path, f"{prefix}{node.name}.")

    for path in SRC.rglob("*.py"):
        walk(ast.parse(path.read_text()).body, path, "")
    assert missing == []
