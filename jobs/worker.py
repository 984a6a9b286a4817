"""Run claimed jobs: one handler per job kind, progress reported as heartbeats.

A handler gets the services, the job and a `progress(done, total)` callable; it must be idempotent
and resumable (derive what is left from the database, write in small transactions), because a
worker may die at any point and another one resumes the job. `progress` raises `LeaseLost` when the
job was taken over; the handler lets it propagate and the worker stops without touching the job.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any, Callable, Protocol, Sequence

from agentmem.api.services import Services
from agentmem.jobs import queue
from agentmem.jobs.queue import Job, LeaseLost

log = logging.getLogger("agentmem.jobs")


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


Handler = Callable[[Services, Job, Progress], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that runs jobs of `kind`."""
    if kind not in queue.KINDS:
        raise ValueError(f"unknown job kind {kind!r}")

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def run_one(services: Services, worker: str, kinds: Sequence[str] | None = None,
            job_id: uuid.UUID | None = None) -> Job | None:
    """Claim one job (or job `job_id`) and run it to the end. Returns the job claimed, or None."""
    _load_handlers()
    stale = timedelta(seconds=services.settings.job_stale_after_seconds)
    with services.pool.connection() as conn:
        job = queue.claim(conn, worker, kinds or [k for k in queue.KINDS if k in HANDLERS], stale, job_id)
    if job is None:
        return None
    log.info("job %s (%s, namespace %s) started by %s, attempt %s", job.id, job.kind, job.namespace_id, worker,
             job.attempts)

    def progress(done: int, total: int | None = None) -> None:
        with services.pool.connection() as conn:
            queue.heartbeat(conn, job, worker, done, total)

    try:
        result = HANDLERS[job.kind](services, job, progress)
    except LeaseLost:
        log.warning("job %s was taken over by another worker; %s stops", job.id, worker)
        return job
    except Exception as exc:  # a failed job is recorded, never allowed to kill the worker
        log.exception("job %s failed", job.id)
        with services.pool.connection() as conn:
            queue.fail(conn, job, worker, f"{type(exc).__name__}: {exc}")
        return job
    with services.pool.connection() as conn:
        try:
            queue.finish(conn, job, worker, result)
        except LeaseLost:
            log.warning("job %s finished by %s after it was taken over", job.id, worker)
    log.info("job %s done: %s", job.id, result)
    return job


def drain(services: Services, worker: str, kinds: Sequence[str] | None = None, limit: int = 100) -> int:
    """Run claimable jobs until there are none (or `limit`). Returns how many ran."""
    ran = 0
    while ran < limit and run_one(services, worker, kinds) is not None:
        ran += 1
    return ran


def _load_handlers() -> None:
    """Handlers register themselves on import; import every job module once."""
    import importlib

    for module in ("agentmem.jobs.reembed", "agentmem.jobs.probes"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
