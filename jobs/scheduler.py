"""Background work inside the service process: worker threads on the job queue, and APScheduler
queueing the scheduled kinds (jobs/kinds.py).

Every process runs the same schedule; the queue (jobs/queue.py) makes each job run once however
many processes poll it, and `enqueue` returns the open job instead of queueing a second one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler

from agentmem.jobs import queue
from agentmem.jobs.context import JobContext
from agentmem.jobs.kinds import HANDLERS, KINDS
from agentmem.jobs.workers import WorkerThreads

log = logging.getLogger("agentmem.jobs")


def enqueue_due(ctx: JobContext, kind: str) -> int:
    """Queue a job of `kind` for every namespace that needs one. Returns how many were queued."""
    queued = 0
    with ctx.pool.connection() as conn:
        for ns in KINDS[kind].due(conn):
            _, created = queue.enqueue(conn, kind, ns, requested_by="schedule")
            queued += created
    if queued:
        log.info("scheduled %d %s job(s)", queued, kind)
    return queued


@dataclass(frozen=True)
class Background:
    """What `start` started; `shutdown` stops it (running jobs are handed back to the queue)."""

    scheduler: BackgroundScheduler
    workers: WorkerThreads

    def shutdown(self, wait: bool = True) -> None:
        self.scheduler.shutdown(wait=wait)
        self.workers.stop(timeout=self.workers.ctx.settings.job_stale_after_seconds if wait else 0.0)


def start(ctx: JobContext, worker: str) -> Background:
    # APScheduler logs every run at INFO: a line per schedule tick would bury the service's own log.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger("apscheduler").level))
    s = ctx.settings
    workers = WorkerThreads(ctx, HANDLERS, worker, s.job_workers, s.job_poll_seconds).start()
    scheduler = BackgroundScheduler(daemon=True)
    for kind, entry in KINDS.items():
        every = float(getattr(s, entry.every_setting))
        if every > 0:
            scheduler.add_job(enqueue_due, "interval", seconds=every, args=[ctx, kind], id=f"schedule-{kind}",
                              max_instances=1, coalesce=True)
    scheduler.start()
    log.info("jobs: %d worker thread(s) polling every %ss as %s", s.job_workers, s.job_poll_seconds, worker)
    return Background(scheduler, workers)
