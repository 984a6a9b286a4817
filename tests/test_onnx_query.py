"""MiniLM's query copy on ONNX Runtime (embeddings/onnx_query.py) gives torch's vectors."""

from __future__ import annotations

import numpy as np

from agentmem.embeddings.minilm import SentenceTransformerEmbedder
from agentmem.embeddings.onnx_query import OnnxQueryEncoder

TEXTS = [
    "When did Caroline go to the LGBTQ support group?",
    "vitamin D",
    "x",
    "A much longer text about storage layouts, " * 60,  # past MiniLM's 256 word pieces: truncated alike
    "Ünïcödé, emoji 🚀 and numbers 3.14159 in one query",
]


def test_the_query_copy_runs_on_onnx_and_gives_the_same_vectors(embedder: SentenceTransformerEmbedder) -> None:
    copy = embedder.copy_for_queries()
    assert isinstance(copy, OnnxQueryEncoder)
    assert copy is embedder.copy_for_queries()  # made once
    expected = embedder.embed(TEXTS)
    for text, want in zip(TEXTS, expected, strict=True):  # alone, as a query is embedded
        got = copy.embed([text])[0]
        assert np.abs(got - want).max() < 1e-5, text[:40]
    together = copy.embed(TEXTS)  # padded into one batch: the mask keeps padding out of the mean
    assert np.abs(together - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert copy.embed([]).shape == (0, embedder.dimension)


def test_without_onnx_the_query_copy_is_torch(embedder: SentenceTransformerEmbedder) -> None:
    plain = SentenceTransformerEmbedder(embedder._path, embedder.name, embedder.version, query_onnx=False)
    copy = plain.copy_for_queries()
    assert isinstance(copy, SentenceTransformerEmbedder) and copy is not plain
    assert np.abs(copy.embed(TEXTS[:2]) - embedder.embed(TEXTS[:2])).max() < 1e-5
