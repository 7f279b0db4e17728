"""Readers say what they leave out: folders, CSV dialects, byte-order marks."""

from __future__ import annotations

import os
from pathlib import Path

from redvec.ingest.readers import ReadStats, read_records


def test_folder_ingest_counts_what_it_skips_and_leaves_hidden_entries_out(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD.txt").write_text("ref")
    (folder / ".draft.md").write_text("hidden")
    (folder / "README.TXT").write_text("upper case suffix")
    (folder / "guide.rst").write_text("restructured")
    (folder / "sub" / "two.md").write_text("\ufefftwo")
    (folder / "image.png").write_bytes(b"\x89PNG")
    os.mkfifo(folder / "pipe.txt")
    (folder / "gone.txt").symlink_to(folder / "nowhere.txt")
    stats = ReadStats()
    records = list(read_records(folder, stats=stats))
    assert [r.data["id"] for r in records if r.data] == ["README.TXT", "guide.rst", "sub/two.md"]
    assert records[-1].data is not None and records[-1].data["text"] == "two"  # no BOM left
    assert stats.skipped == {
        "hidden (use --hidden to read them)": 2,
        "not a text file (.txt, .md, .markdown, .rst)": 1,
        "not a regular file (fifo, socket or device)": 1,
        "broken symbolic link": 1,
    }
    with_hidden = [r.data["id"] for r in read_records(folder, hidden=True) if r.data]
    assert ".draft.md" in with_hidden and ".git/HEAD.txt" in with_hidden


def test_csv_with_a_bom_and_semicolons_reads_its_id_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffid;title\n1;a\n".encode())
    assert [r.data for r in read_records(path)] == [{"id": "1", "title": "a"}]
