"""Content hashes: what decides whether a write changed anything."""

from __future__ import annotations

import hashlib


def content_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
