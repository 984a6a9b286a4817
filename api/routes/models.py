"""The namespace's embedding model: which one its vectors come from, and migrating to another."""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Response

from agentmem.memory.namespaces import Principal
from agentmem.api.deps import ConnDep, ReadDep, ServicesDep, require_role
from agentmem.api.routes.jobs import job_out
from agentmem.api.schemas.models import (
    EmbeddingChangeOut, EmbeddingModelOut, EmbeddingSettingsIn, EmbeddingSettingsOut, MigrationOut,
)
from agentmem.embeddings.models import Model, migration_progress, namespace_models
from agentmem.embeddings.reembed import start_migration
from agentmem.jobs import queue

router = APIRouter(prefix="/settings/embedding", tags=["embedding models"])

ModelEditorDep = Annotated[Principal, Depends(require_role("operator", "changing the embedding model"))]


def _model(m: Model | None) -> EmbeddingModelOut | None:
    return None if m is None else EmbeddingModelOut(name=m.name, version=m.version, dimension=m.dimension)


def _open_job(conn: psycopg.Connection[Any], namespace_id: int) -> queue.Job | None:
    jobs = [j for j in queue.recent(conn, namespace_id, "reembed", limit=1) if j.status in queue.OPEN]
    return jobs[0] if jobs else None


@router.get("", response_model=EmbeddingSettingsOut)
def get_embedding(conn: ConnDep, who: ReadDep, services: ServicesDep) -> EmbeddingSettingsOut:
    models = namespace_models(conn, who.namespace_id, services.default_model)
    migration = None
    if models.target is not None:
        p = migration_progress(conn, who.namespace_id, models.target)
        job = _open_job(conn, who.namespace_id)
        migration = MigrationOut(chunks=p.chunks, chunks_embedded=p.chunks_embedded, entries=p.entries,
                                 entries_embedded=p.entries_embedded, job=job_out(job) if job else None)
    return EmbeddingSettingsOut(active=_model(models.active), target=_model(models.target),  # type: ignore[arg-type]
                                migration=migration, available=services.embedders.names())


@router.put("", response_model=EmbeddingChangeOut, responses={202: {"model": EmbeddingChangeOut}})
def put_embedding(body: EmbeddingSettingsIn, conn: ConnDep, who: ModelEditorDep, services: ServicesDep,
                  response: Response) -> EmbeddingChangeOut:
    """A new model starts a migration (202, with the job); search keeps the current model until it is done.

    The active model answers 200 and changes nothing (or cancels a migration under way).
    """
    services.embedders.spec(body.model)  # 422 naming the available models
    start = start_migration(conn, services.embedders, services.default_model, who.namespace_id, body.model)
    job = None
    if start.status in ("started", "migrating"):
        job, _ = queue.enqueue(conn, "reembed", who.namespace_id, {"model": body.model}, "api")
        response.status_code = 202
    return EmbeddingChangeOut(status=start.status, active=_model(start.models.active),  # type: ignore[arg-type]
                              target=_model(start.models.target), job=job_out(job) if job else None)

