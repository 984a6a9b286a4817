"""The model registry of a process (embeddings/registry.py): models by name, loaded lazily, once."""

from __future__ import annotations

import threading

import pytest

from agentmem.core.errors import InvalidInput, ModelUnavailable
from agentmem.embeddings.registry import Embedders, ModelSpec
from hash_embedder import HashEmbedder


def test_a_model_is_loaded_on_first_use_and_only_once() -> None:
    loads: list[int] = []

    def load() -> HashEmbedder:
        loads.append(1)
        return HashEmbedder(256)

    models = Embedders([ModelSpec("hash-test-256", "1", 256, load)], default="hash-test-256")
    assert loads == []  # described, not loaded
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(models.get("hash-test-256"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [1] and len({id(g) for g in got}) == 1


def test_unknown_models_and_other_versions_are_refused_by_name() -> None:
    models = Embedders.of(HashEmbedder(), extra=[ModelSpec("other", "2", 8, HashEmbedder)])
    assert models.default == "hash-test" and models.names() == ["hash-test", "other"]
    with pytest.raises(InvalidInput, match="unknown embedding model 'nope'; available: hash-test, other"):
        models.spec("nope")
    with pytest.raises(ModelUnavailable, match="hash-test 0.9"):
        models.get("hash-test", "0.9")  # vectors of another version must not be compared with these
    with pytest.raises(ModelUnavailable, match="expected 2, 8"):
        models.get("other")  # it loads as something else than it claims: refused
    with pytest.raises(ModelUnavailable, match="default embedding model 'x'"):
        Embedders([], default="x")
