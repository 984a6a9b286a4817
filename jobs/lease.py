"""A running job's lease, renewed from a thread of its own whatever the job is doing.

A job may block far longer than `job_stale_after_seconds` without being dead: waiting for the model,
for a slow webhook, for a lock. Its heartbeat therefore does not depend on the job calling back: a
`Lease` renews it every `every` seconds until the job ends. When a renewal finds the job held by
another worker (this one was presumed dead), the lease is marked lost and the job stops at its next
`check()` (its `progress` calls), and `finish` refuses to record it.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from psycopg_pool import ConnectionPool

from agentmem.jobs import queue
from agentmem.jobs.queue import Job, LeaseLost

log = logging.getLogger("agentmem.jobs")


def beat_interval(stale_after: float, every: float) -> float:
    """Renew at least three times per stale window, so one slow renewal never costs the lease."""
    return max(0.01, min(every, stale_after / 3))


class Lease:
    """Context manager: renews `job`'s heartbeat as `worker` until the block ends."""

    def __init__(self, pool: ConnectionPool, job: Job, worker: str, every: float) -> None:
        self.pool, self.job, self.worker, self.every = pool, job, worker, every
        self.lost = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{job.id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._ended.set()
        self._thread.join()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"job {self.job.id} is no longer held by {self.worker}")

    def _renew(self) -> None:
        while not self._ended.wait(self.every):
            try:
                with self.pool.connection(timeout=self.every) as conn:
                    queue.heartbeat(conn, self.job, self.worker)
            except LeaseLost:
                log.warning("job %s: lease lost by %s (another worker took it over)", self.job.id, self.worker)
                self.lost.set()
                return
            except Exception:  # a busy pool or a dropped connection: try again at the next beat
                log.warning("job %s: heartbeat failed; retrying", self.job.id, exc_info=True)
