"""Splitting long text into overlapping chunks at word boundaries.

A chunk is at most ``size`` characters and starts ``size - overlap`` characters after
the previous one, moved back to the nearest whitespace so no word is cut in two.
"""

from __future__ import annotations

from redvec.errors import ConfigError

__all__ = ["chunk_text"]


def chunk_text(text: str, size: int, overlap: int = 0) -> list[str]:
    """``text`` cut into pieces of at most ``size`` characters, each cut at the last space
    before the limit (a word longer than ``size`` is cut inside), the next piece starting
    ``overlap`` characters back at a word start; [] for blank text.
    :class:`ConfigError` for a size or overlap that cannot work."""
    if size <= 0:
        raise ConfigError(f"chunk size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ConfigError(f"chunk overlap must be from 0 to size - 1, got {overlap}")
    text = text.strip()
    if len(text) <= size:
        return [text] if text else []
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + 1, end)
            if cut > start:
                end = cut
        chunk = text[start:end].strip()
        if chunk:
            chunks.append(chunk)
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        if overlap:
            space = text.find(" ", next_start, end)
            if space != -1:
                next_start = space + 1
        start = next_start
    return chunks
