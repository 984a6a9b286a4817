"""What a job may use, declared in the jobs floor so that jobs never import the API's `Services`.

The API and the CLI build one from their own wiring (`Services.jobs`); tests build one directly.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from agentmem.core.settings import Settings
from agentmem.embeddings.models import Model
from agentmem.embeddings.registry import Embedders


@dataclass(frozen=True)
class JobContext:
    pool: ConnectionPool
    embedders: Embedders  # by model name; a namespace's active (and target) model picks one
    settings: Settings
    default_model: Model  # the model of a namespace that has no active one yet
    executor: Executor  # probes search as /search does: keyword search overlaps the query's embedding
