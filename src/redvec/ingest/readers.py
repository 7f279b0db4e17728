"""Reading documents from files: JSONL, a JSON array, CSV, or a folder of text files.

Every reader yields one :class:`Record` per source record, good or bad, with where it
came from (file and line), so a bad record is reported, never silently dropped.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redvec.errors import ConfigError

__all__ = ["Record", "read_records"]

TEXT_SUFFIXES = (".txt", ".md")


@dataclass
class Record:
    source: str
    line: int | None
    data: dict[str, Any] | None
    error: str | None = None


def _jsonl(path: Path) -> Iterator[Record]:
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as e:
                yield Record(str(path), n, None, f"invalid JSON: {e}")
                continue
            if not isinstance(data, dict):
                yield Record(
                    str(path), n, None, f"expected a JSON object, got {type(data).__name__}"
                )
            else:
                yield Record(str(path), n, data)


def _json_array(path: Path) -> Iterator[Record]:
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        yield Record(str(path), None, None, f"invalid JSON: {e}")
        return
    items = data if isinstance(data, list) else [data]
    for n, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield Record(f"{path}[{n - 1}]", None, item)
        else:
            yield Record(
                f"{path}[{n - 1}]", None, None, f"expected an object, got {type(item).__name__}"
            )


def _csv(path: Path) -> Iterator[Record]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        for row in reader:
            line = reader.line_num
            if None in row:
                yield Record(
                    str(path),
                    line,
                    None,
                    f"more values than the {len(reader.fieldnames or [])} columns",
                )
            elif any(v is None for v in row.values()):
                yield Record(str(path), line, None, "fewer values than columns")
            else:
                yield Record(str(path), line, dict(row))


def _folder(path: Path) -> Iterator[Record]:
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES):
        rel = file.relative_to(path).as_posix()
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            yield Record(str(file), None, None, f"cannot read: {e}")
            continue
        yield Record(str(file), None, {"id": rel, "text": text, "path": rel})


def read_records(path: str | Path, fmt: str | None = None) -> Iterator[Record]:
    """Records from ``path``; the format comes from the suffix unless ``fmt`` is given."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no such file or folder: {path}")
    if path.is_dir():
        return _folder(path)
    kind = fmt or {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(
        path.suffix.lower()
    )
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv}
    if kind not in readers:
        raise ConfigError(f"cannot tell the format of {path}: use .jsonl, .json, .csv or a folder")
    return readers[kind](path)
