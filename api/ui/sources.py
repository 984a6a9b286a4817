"""The page's view of the namespace's embedding model, gathered from the concepts that own each part.

The SQL lives with its tables: models and migration counts in embeddings/models.py, the re-embedding
job in jobs/queue.py. Probe histories, scores and alerts come straight from jobs/probe_store.py and
jobs/alerts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from agentmem.embeddings.models import migration_progress, model_names
from agentmem.jobs import queue


@dataclass(frozen=True)
class ModelStatus:
    """The namespace's embedding model and how far a move to another one has got."""

    active: str  # the model the namespace's vectors are made by (search uses it)
    target: str | None  # the model being migrated to; None when there is no migration
    done: int  # chunks with a vector of the target; == total when there is no migration
    total: int
    job_status: str | None = None  # the latest re-embedding job: queued, running, done, failed
    job_error: str | None = None


def model_status(conn: psycopg.Connection[Any], namespace_id: int, default_model: str) -> ModelStatus:
    """The namespace's active model, the target of a migration and its progress."""
    names = model_names(conn, namespace_id)
    job = queue.latest(conn, namespace_id, "reembed")
    job_status, job_error = (job.status, job.error) if job else (None, None)
    progress = migration_progress(conn, namespace_id, names.target)
    active = names.active or default_model
    if names.target is None:
        return ModelStatus(active, None, progress.chunks, progress.chunks, job_status, job_error)
    return ModelStatus(active, names.target.name, progress.chunks_embedded, progress.chunks, job_status, job_error)
