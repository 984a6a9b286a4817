"""The embedding models a process can run, by name: each loaded on first use, once per process.

A model is described (name, version, dimension) without loading it, so that the API can register a
model and start a migration to it without waiting for the weights; the weights load when the
re-embedding job first needs them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agentmem.core.errors import InvalidInput, ModelUnavailable
from agentmem.embeddings.base import Embedder


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version: str
    dimension: int
    load: Callable[[], Embedder]
    description: str = ""


class Embedders:
    """Model specs by name, with at most one loaded instance of each (models are large)."""

    def __init__(self, specs: Iterable[ModelSpec], default: str) -> None:
        self._specs = {s.name: s for s in specs}
        if default not in self._specs:
            raise ModelUnavailable(f"the default embedding model {default!r} is not one of {self.names()}")
        self.default = default
        self._loaded: dict[str, Embedder] = {}
        self._lock = threading.Lock()
        self.registered: dict[tuple[str, ...], Any] = {}  # registry rows by database and model (models.py)

    @classmethod
    def of(cls, *embedders: Embedder, extra: Iterable[ModelSpec] = ()) -> "Embedders":
        """Already loaded embedders (the first is the default), plus specs loaded on demand."""
        specs = [ModelSpec(e.name, e.version, e.dimension, (lambda e=e: e)) for e in embedders]  # type: ignore[misc]
        made = cls([*extra, *specs], default=embedders[0].name)
        made._loaded.update({e.name: e for e in embedders})
        return made

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> ModelSpec:
        """The model named `name`, or InvalidInput naming the ones available."""
        spec = self._specs.get(name)
        if spec is None:
            raise InvalidInput(f"unknown embedding model {name!r}; available: {', '.join(self.names())}")
        return spec

    def get(self, name: str, version: str | None = None) -> Embedder:
        """The loaded model; with `version`, only if it is exactly that version (vectors must not mix)."""
        spec = self._specs.get(name)
        if spec is None or (version is not None and spec.version != version):
            have = f"{spec.name} {spec.version}" if spec else "no such model"
            raise ModelUnavailable(
                f"embedding model {name} {version or ''} is not available in this service ({have}); "
                f"configure it, or migrate the namespace to one of {', '.join(self.names())}"
            )
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is None:
                loaded = spec.load()
                if loaded.dimension != spec.dimension or loaded.version != spec.version:
                    raise ModelUnavailable(
                        f"model {name} loaded as version {loaded.version}, dimension {loaded.dimension}; "
                        f"expected {spec.version}, {spec.dimension}"
                    )
                self._loaded[name] = loaded
        return loaded
