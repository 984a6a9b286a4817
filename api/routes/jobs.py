"""Background jobs of the caller's namespace: queue a re-embedding, follow its progress."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from agentmem.core.errors import NotFound
from agentmem.memory.namespaces import Principal
from agentmem.api.deps import ConnDep, ReadDep, require_role
from agentmem.api.schemas.models import JobOut
from agentmem.jobs import queue

router = APIRouter(prefix="/jobs", tags=["jobs"])

ReembedderDep = Annotated[Principal, Depends(require_role("operator", "starting a re-embedding"))]


def job_out(job: queue.Job) -> JobOut:
    return JobOut(**{k: v for k, v in asdict(job).items() if k in JobOut.model_fields})


@router.post("/reembed", status_code=202, response_model=JobOut)
def reembed(conn: ConnDep, who: ReembedderDep) -> JobOut:
    """Re-embed what is stale (content changed, model changed); an open job is returned, not duplicated."""
    job, _ = queue.enqueue(conn, "reembed", who.namespace_id, requested_by="api")
    return job_out(job)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: uuid.UUID, conn: ConnDep, who: ReadDep) -> JobOut:
    job = queue.get(conn, who.namespace_id, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id} in this namespace")
    return job_out(job)


@router.get("", response_model=list[JobOut])
def list_jobs(conn: ConnDep, who: ReadDep, kind: Literal["reembed", "probes"] | None = None,
              limit: int = Query(default=20, ge=1, le=100)) -> list[JobOut]:
    """The namespace's most recent jobs, newest first."""
    return [job_out(j) for j in queue.recent(conn, who.namespace_id, kind, limit)]
