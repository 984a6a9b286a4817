"""APScheduler inside the service process: poll the job queue, and queue scheduled work.

Every process runs the same schedule; the queue (jobs/queue.py) makes each job run once however
many processes poll it, and `enqueue` returns the open job instead of queueing a second one.
Scheduled work is declared with `schedule(kind, due, every)`: `due(conn)` names the namespaces that
need a job of that kind now.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler

from agentmem.api.services import Services
from agentmem.jobs import queue
from agentmem.jobs.worker import drain

log = logging.getLogger("agentmem.jobs")


@dataclass(frozen=True)
class Scheduled:
    kind: str
    due: Callable[[psycopg.Connection[Any]], list[int]]  # namespace ids that need a job now
    every_setting: str  # the Settings field with the interval in seconds


SCHEDULES: dict[str, Scheduled] = {}


def schedule(kind: str, due: Callable[[psycopg.Connection[Any]], list[int]], every_setting: str) -> None:
    SCHEDULES[kind] = Scheduled(kind, due, every_setting)


def enqueue_due(services: Services, kind: str) -> int:
    """Queue a job of `kind` for every namespace that needs one. Returns how many were queued."""
    entry = SCHEDULES[kind]
    queued = 0
    with services.pool.connection() as conn:
        for ns in entry.due(conn):
            _, created = queue.enqueue(conn, kind, ns, requested_by="schedule")
            queued += created
    if queued:
        log.info("scheduled %d %s job(s)", queued, kind)
    return queued


def start(services: Services, worker: str) -> BackgroundScheduler:
    from agentmem.jobs.worker import _load_handlers

    _load_handlers()  # job modules declare their schedules on import
    # APScheduler logs every run at INFO: two lines per poll would bury the service's own log.
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger("apscheduler").level))
    s = services.settings
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(drain, "interval", seconds=s.job_poll_seconds, args=[services, worker], id="drain",
                      max_instances=1, coalesce=True)
    for entry in SCHEDULES.values():
        every = float(getattr(s, entry.every_setting))
        if every > 0:
            scheduler.add_job(enqueue_due, "interval", seconds=every, args=[services, entry.kind],
                              id=f"schedule-{entry.kind}", max_instances=1, coalesce=True)
    scheduler.start()
    log.info("scheduler started: polling jobs every %ss as %s", s.job_poll_seconds, worker)
    return scheduler
