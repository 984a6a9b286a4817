"""The dependencies every request and job needs, passed explicitly instead of living in globals."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from psycopg_pool import ConnectionPool

from agentmem.settings import Settings
from embeddings.base import Embedder


@dataclass(frozen=True)
class Services:
    pool: ConnectionPool
    embedder: Embedder
    settings: Settings
    executor: Executor  # for overlapping I/O with embedding inside one request
