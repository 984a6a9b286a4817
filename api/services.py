"""The dependencies every request and job needs, passed explicitly instead of living in globals."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from agentmem.core.settings import Settings
from agentmem.embeddings.models import Model
from agentmem.embeddings.registry import Embedders
from agentmem.jobs.context import JobContext
from agentmem.retrieval.query_focus import WordCache, word_cache


@dataclass(frozen=True)
class Services:
    pool: ConnectionPool
    embedders: Embedders  # by model name; each namespace's active (and target) model picks one
    settings: Settings
    default_model: Model  # the registry row of embedders.default: new namespaces start with it
    executor: Executor  # for overlapping I/O with embedding inside one request
    common_words: WordCache = field(default_factory=word_cache)  # which query words are common where, lately

    @property
    def jobs(self) -> JobContext:
        """What background jobs get: the part of these services they use."""
        return JobContext(self.pool, self.embedders, self.settings, self.default_model, self.executor)
