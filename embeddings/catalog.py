"""The models this service offers, chosen by name (AGENTMEM_EMBEDDING_MODEL, PUT /settings/embedding).

- all-MiniLM-L6-v2 (384 dimensions): the default; the better retrieval quality.
- minilm-static-256 (256 dimensions): distilled from it on first use (embeddings/static.py); embeds
  text far faster on a CPU, at some cost in quality (docs/embedding_models.md has the figures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from agentmem.core.settings import Settings
from agentmem.embeddings import minilm, static
from agentmem.embeddings.base import Embedder
from agentmem.embeddings.registry import Embedders, ModelSpec
from agentmem.embeddings.scheduler import SchedulerPolicy


def catalog(settings: Settings) -> list[ModelSpec]:
    base = minilm.minilm_version()
    models_dir: Path = settings.models_dir or settings.data_dir / "models"
    return [
        ModelSpec(minilm.MODEL_NAME, base, minilm.DIMENSION,
                  lambda: minilm.load_minilm(batch_size=settings.embed_batch_size, threads=settings.embed_threads,
                                          query_onnx=settings.embed_query_onnx),
                  "sentence-transformers all-MiniLM-L6-v2 (default)"),
        ModelSpec(static.NAME, static.version_of(base), static.DIMENSION, lambda: static.load_static(models_dir),
                  "static word-piece vectors distilled from all-MiniLM-L6-v2 (fast, lower quality)"),
    ]


def service_embedders(settings: Settings, loaded: Iterable[Embedder] = ()) -> Embedders:
    """The catalogue with `settings.embedding_model` as the default; `loaded` instances take precedence
    (the first of them is then the default: tests and benchmarks pass the model they loaded)."""
    loaded = list(loaded)
    policy = SchedulerPolicy.from_settings(settings)
    if loaded:
        return Embedders.of(*loaded, extra=[s for s in catalog(settings) if s.name not in {e.name for e in loaded}],
                            policy=policy)
    return Embedders(catalog(settings), default=settings.embedding_model, policy=policy)
