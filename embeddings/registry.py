"""The embedding models a process can run, by name: each loaded on first use, once per process.

A model is described (name, version, dimension) without loading it, so that the API can register a
model and start a migration to it without waiting for the weights; the weights load when the
re-embedding job first needs them. Each model has its own load lock (loading or distilling one never
holds up another's embeddings) and, once loaded, its own scheduler (embeddings/scheduler.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agentmem.core.errors import InvalidInput, ModelUnavailable
from agentmem.embeddings.base import Embedder
from agentmem.embeddings.scheduler import QueueStats, ScheduledEmbedder, SchedulerPolicy


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    dimension: int
    load: Callable[[], Embedder]
    description: str = ""


class Embedders:
    """Model specs by name, with at most one loaded instance of each (models are large)."""

    def __init__(self, specs: Iterable[ModelSpec], default: str, policy: SchedulerPolicy | None = None) -> None:
        self._specs = {s.name: s for s in specs}
        if default not in self._specs:
            raise ModelUnavailable(f"the default embedding model {default!r} is not one of {self.names()}")
        self.default = default
        self.policy = policy or SchedulerPolicy()
        self._loaded: dict[str, ScheduledEmbedder] = {}
        self._load_locks = {name: threading.Lock() for name in self._specs}
        self.registered: dict[tuple[str, ...], Any] = {}  # registry rows by database and model (models.py)

    @classmethod
    def of(cls, *embedders: Embedder, extra: Iterable[ModelSpec] = (),
           policy: SchedulerPolicy | None = None) -> "Embedders":
        """Already loaded embedders (the first is the default), plus specs loaded on demand."""
        specs = [ModelSpec(e.name, e.version, e.dimension, (lambda e=e: e)) for e in embedders]  # type: ignore[misc]
        made = cls([*extra, *specs], default=embedders[0].name, policy=policy)
        made._loaded.update({e.name: e if isinstance(e, ScheduledEmbedder) else ScheduledEmbedder(e, made.policy)
                             for e in embedders})
        return made

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> ModelSpec:
        """The model named `name`, or InvalidInput naming the ones available."""
        spec = self._specs.get(name)
        if spec is None:
            raise InvalidInput(f"unknown embedding model {name!r}; available: {', '.join(self.names())}")
        return spec

    def get(self, name: str, version: str | None = None) -> ScheduledEmbedder:
        """The loaded model behind its scheduler; with `version`, only if it is exactly that version (vectors
        must not mix). Loads it on first use, holding only this model's lock."""
        spec = self._specs.get(name)
        if spec is None or (version is not None and spec.version != version):
            have = f"{spec.name} {spec.version}" if spec else "no such model"
            raise ModelUnavailable(
                f"embedding model {name} {version or ''} is not available in this service ({have}); "
                f"configure it, or migrate the namespace to one of {', '.join(self.names())}"
            )
        loaded = self._loaded.get(name)
        if loaded is not None:
            return loaded
        with self._load_locks[name]:
            loaded = self._loaded.get(name)
            if loaded is None:
                model = spec.load()
                if model.dimension != spec.dimension or model.version != spec.version:
                    raise ModelUnavailable(
                        f"model {name} loaded as version {model.version}, dimension {model.dimension}; "
                        f"expected {spec.version}, {spec.dimension}"
                    )
                loaded = self._loaded[name] = ScheduledEmbedder(model, self.policy)
        return loaded

    def stats(self) -> list[QueueStats]:
        """Queue depth and recent waits of every loaded model's scheduler."""
        return [e.scheduler.stats() for e in list(self._loaded.values())]

    def close(self) -> None:
        """Stop every model's worker (on shutdown); a later request starts it again."""
        for e in list(self._loaded.values()):
            e.scheduler.close()
