"""Run claimed jobs: the handler of the job's kind, with its lease kept alive beside it.

A handler gets the job context, the job and a `progress(done, total)` callable; it must be
idempotent and resumable (derive what is left from the database, write in small transactions),
because a worker may die at any point and another one resumes the job. The heartbeat does not wait
for `progress`: a `Lease` (jobs/lease.py) renews it from its own thread while the handler runs.
`progress` records how far the job is and raises `LeaseLost` when the job was taken over, or
`Interrupted` when the process is shutting down; the handler lets both propagate.

Which handler runs which kind is the caller's table (jobs/kinds.py for the service), passed in.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any, Callable, Mapping, Protocol, Sequence

from agentmem.jobs import queue
from agentmem.jobs.context import JobContext
from agentmem.jobs.lease import Lease, beat_interval
from agentmem.jobs.queue import Job, LeaseLost

log = logging.getLogger("agentmem.jobs")


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None) -> None: ...


Handler = Callable[[JobContext, Job, Progress], dict[str, Any]]


class Interrupted(Exception):
    """The process is stopping: the job is handed back to the queue for another worker to resume."""


def claim_one(ctx: JobContext, worker: str, handlers: Mapping[str, Handler], job_id: uuid.UUID | None = None,
              avoid: Sequence[int] = ()) -> Job | None:
    stale = timedelta(seconds=ctx.settings.job_stale_after_seconds)
    with ctx.pool.connection() as conn:
        return queue.claim(conn, worker, list(handlers), stale, job_id, avoid)


def run_claimed(ctx: JobContext, worker: str, handlers: Mapping[str, Handler], job: Job,
                stopping: threading.Event | None = None) -> None:
    """Run a job this worker has claimed to its end: done, failed, handed back, or lost to another worker."""
    log.info("job %s (%s, namespace %s) started by %s, attempt %s", job.id, job.kind, job.namespace_id, worker,
             job.attempts)
    s = ctx.settings
    every = beat_interval(s.job_stale_after_seconds, s.job_heartbeat_seconds)
    with Lease(ctx.pool, job, worker, every) as lease:

        def progress(done: int, total: int | None = None) -> None:
            lease.check()
            if stopping is not None and stopping.is_set():
                raise Interrupted(f"job {job.id} interrupted: the process is stopping")
            with ctx.pool.connection() as conn:
                queue.heartbeat(conn, job, worker, done, total)

        try:
            result = handlers[job.kind](ctx, job, progress)
        except LeaseLost:
            log.warning("job %s was taken over by another worker; %s stops", job.id, worker)
            return
        except Interrupted:
            log.info("job %s handed back to the queue: %s is stopping", job.id, worker)
            with ctx.pool.connection() as conn:
                queue.release(conn, job, worker)
            return
        except Exception as exc:  # a failed job is recorded, never allowed to kill the worker
            log.exception("job %s failed", job.id)
            with ctx.pool.connection() as conn:
                queue.fail(conn, job, worker, f"{type(exc).__name__}: {exc}")
            return
    with ctx.pool.connection() as conn:
        try:
            queue.finish(conn, job, worker, result)
        except LeaseLost:
            log.warning("job %s finished by %s after it was taken over", job.id, worker)
            return
    log.info("job %s done: %s", job.id, result)


def run_one(ctx: JobContext, worker: str, handlers: Mapping[str, Handler],
            job_id: uuid.UUID | None = None) -> Job | None:
    """Claim one job of the kinds in `handlers` (or job `job_id`) and run it to the end.
    Returns the job claimed, or None."""
    job = claim_one(ctx, worker, handlers, job_id)
    if job is not None:
        run_claimed(ctx, worker, handlers, job)
    return job


def drain(ctx: JobContext, worker: str, handlers: Mapping[str, Handler], limit: int = 100) -> int:
    """Run claimable jobs one after the other until there are none (or `limit`). Returns how many ran."""
    ran = 0
    while ran < limit and run_one(ctx, worker, handlers) is not None:
        ran += 1
    return ran
