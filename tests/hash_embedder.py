"""A deterministic embedder for tests about storage, not semantics: real unit vectors from a hash.

Used where the model's 5-8 s start-up or its speed would hide what a test is about (a crash in
the middle of a write). Retrieval-quality tests use the real model.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np


class HashEmbedder:
    """`dimension` other than 384 makes another model (named hash-test-<dimension>): its vectors differ."""

    version = "1"

    def __init__(self, dimension: int = 384) -> None:
        self.dimension = dimension
        self.name = "hash-test" if dimension == 384 else f"hash-test-{dimension}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out
