"""Reading documents from files: JSONL, a JSON array, CSV, or a folder of text files.

Every reader yields one :class:`Record` per source record, good or bad, with where it
came from (file and line), so a bad record is reported, never silently dropped.
"""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redvec.errors import ConfigError

__all__ = ["ReadStats", "Record", "read_records"]

# Suffixes read from a folder, matched case-insensitively (README.TXT, notes.Md).
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".rst")


@dataclass
class Record:
    """One record read from a file: where it came from (source, line), its data, or the reason
    it could not be read."""

    source: str
    line: int | None
    data: dict[str, Any] | None
    error: str | None = None
    # CSV cells are all strings: the ingest pipeline converts them by the schema's
    # field types (NUMERIC to numbers, TAG split by its separator).
    text_cells: bool = False


@dataclass
class ReadStats:
    """What a folder read left out, by reason (counted, never silent)."""

    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count one record skipped for ``reason``."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


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


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample.split("\n", 1)[0] or sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def _csv(path: Path) -> Iterator[Record]:
    # utf-8-sig: a byte-order mark (Excel writes one) must not become part of the first
    # column's name ("\ufeffid").
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        dialect = _dialect(f.read(65536))
        f.seek(0)
        reader = csv.DictReader(f, dialect=dialect)
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
                yield Record(str(path), line, dict(row), text_cells=True)


def _folder(path: Path, stats: ReadStats, hidden: bool) -> Iterator[Record]:
    """Text files under ``path``, sorted; hidden entries (a name starting with '.') are
    left out unless ``hidden``; everything left out is counted in ``stats`` by reason."""
    suffixes = ", ".join(TEXT_SUFFIXES)
    found: list[tuple[str, Path]] = []
    pending = [path]
    while pending:
        folder = pending.pop()
        try:
            entries = list(folder.iterdir())
        except OSError as e:
            stats.skip(f"unreadable folder ({e.strerror})")
            continue
        for entry in entries:
            if entry.name.startswith(".") and not hidden:
                stats.skip("hidden (use --hidden to read them)")
                continue
            try:
                mode = entry.stat().st_mode  # follows links
            except FileNotFoundError:
                stats.skip("broken symbolic link")
                continue
            except OSError as e:
                stats.skip(f"cannot be read ({e.strerror})")
                continue
            if stat.S_ISDIR(mode):
                if entry.is_symlink():
                    stats.skip("symbolic link to a folder (not followed)")
                else:
                    pending.append(entry)
            elif not stat.S_ISREG(mode):
                stats.skip("not a regular file (fifo, socket or device)")
            elif entry.suffix.lower() not in TEXT_SUFFIXES:
                stats.skip(f"not a text file ({suffixes})")
            else:
                found.append((entry.relative_to(path).as_posix(), entry))
    for rel, file in sorted(found):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            yield Record(str(file), None, None, f"cannot read: {e}")
            continue
        yield Record(str(file), None, {"id": rel, "text": text, "path": rel})


def read_records(
    path: str | Path,
    fmt: str | None = None,
    *,
    stats: ReadStats | None = None,
    hidden: bool = False,
) -> Iterator[Record]:
    """Records from ``path``; the format comes from the suffix unless ``fmt`` is given.
    For a folder, what is left out is counted in ``stats``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no such file or folder: {path}")
    if path.is_dir():
        return _folder(path, stats if stats is not None else ReadStats(), hidden)
    kind = fmt or {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}.get(
        path.suffix.lower()
    )
    readers = {"jsonl": _jsonl, "json": _json_array, "csv": _csv}
    if kind not in readers:
        raise ConfigError(f"cannot tell the format of {path}: use .jsonl, .json, .csv or a folder")
    return readers[kind](path)
