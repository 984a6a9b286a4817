"""Split text into token-bounded chunks at natural boundaries. Pure: no I/O.

Each chunk is an exact slice of the input (whitespace preserved), at most `max_tokens`
cl100k tokens, cut preferably at paragraph and sentence ends, then at word ends, and only
for a single overlong "word" (say a base64 blob) in the middle of characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from agentmem.core.tokens import count_tokens

# A sentence-ish unit: text up to and including a sentence end or a line break, plus trailing space.
_UNIT = re.compile(r"[^\n.!?]*(?:[.!?]+(?=\s|$)|\n+|$)\s*|[^\n]+", re.S)
_WORD = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True, slots=True)
class Chunk:
    ord: int
    text: str
    tokens: int
    start: int  # character offset in the source text
    end: int


def _spans(text: str, pattern: re.Pattern[str], start: int, end: int) -> list[tuple[int, int]]:
    spans = [(m.start() + start, m.end() + start) for m in pattern.finditer(text[start:end]) if m.end() > m.start()]
    return spans or [(start, end)]


def _pieces(text: str, max_tokens: int, count: Callable[[str], int]) -> list[tuple[int, int, int]]:
    """Split into (start, end, tokens) pieces that each fit: sentences, else words, else characters."""
    out: list[tuple[int, int, int]] = []
    for s, e in _spans(text, _UNIT, 0, len(text)):
        n = count(text[s:e])
        if n <= max_tokens:
            out.append((s, e, n))
            continue
        for ws, we in _spans(text, _WORD, s, e):
            wn = count(text[ws:we])
            if wn <= max_tokens:
                out.append((ws, we, wn))
                continue
            # An overlong run without spaces: cut by characters, halving until it fits.
            pos = ws
            while pos < we:
                step = max(1, min(we - pos, max_tokens * 2))
                while step > 1 and count(text[pos : pos + step]) > max_tokens:
                    step //= 2
                out.append((pos, pos + step, count(text[pos : pos + step])))
                pos += step
    return out


def chunk_text(text: str, max_tokens: int, count: Callable[[str], int] = count_tokens) -> list[Chunk]:
    """Greedily pack pieces into chunks of at most `max_tokens` tokens (exact count of the slice)."""
    if max_tokens < 1:
        raise ValueError("max_tokens must be >= 1")
    if not text.strip():
        return []
    total = count(text)
    if total <= max_tokens:
        return [Chunk(0, text, total, 0, len(text))]
    pieces = _pieces(text, max_tokens, count)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(pieces):
        # Token counts are nearly additive across piece boundaries (cl100k pre-splits at spaces):
        # pack by the sum, then confirm with the exact count of the slice and back off if needed.
        j, acc = i, 0
        while j < len(pieces) and acc + pieces[j][2] <= max_tokens:
            acc += pieces[j][2]
            j += 1
        j = max(j, i + 1)
        while j > i + 1 and count(text[pieces[i][0] : pieces[j - 1][1]]) > max_tokens:
            j -= 1
        spans.append((pieces[i][0], pieces[j - 1][1]))
        i = j
    chunks: list[Chunk] = []
    for start, end in spans:
        piece = text[start:end]
        if piece.strip():
            chunks.append(Chunk(len(chunks), piece, count(piece), start, end))
    return chunks
