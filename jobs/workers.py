"""Several worker threads per process, so that one tenant's slow job does not hold up the others'.

Each thread claims a job, runs it, and claims the next; idle, it polls every `job_poll_seconds`.
A namespace may hold at most `threads - 1` of the process's threads at once (claims skip it while
it does), and claims prefer the namespaces with the fewest running jobs: a long re-embedding in one
namespace leaves a thread free for another namespace's probes. With `job_workers = 1` jobs run one
at a time, as before.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Mapping

from agentmem.jobs.context import JobContext
from agentmem.jobs.queue import Job
from agentmem.jobs.worker import Handler, claim_one, run_claimed

log = logging.getLogger("agentmem.jobs")


def namespace_cap(threads: int) -> int:
    """How many of a process's worker threads one namespace may hold: all but one, at least one."""
    return max(1, threads - 1)


class WorkerThreads:
    def __init__(self, ctx: JobContext, handlers: Mapping[str, Handler], name: str, threads: int,
                 poll_seconds: float) -> None:
        self.ctx, self.handlers, self.name, self.poll_seconds = ctx, handlers, name, poll_seconds
        self.cap = namespace_cap(threads)
        self.stopping = threading.Event()
        self._claiming = threading.Lock()  # one claim at a time, so the per-namespace count is exact
        self._running: Counter[int] = Counter()
        self._threads = [threading.Thread(target=self._loop, args=(f"{name}/{i}",), name=f"agentmem-job-{i}",
                                          daemon=True) for i in range(1, max(1, threads) + 1)]

    def start(self) -> WorkerThreads:
        for t in self._threads:
            t.start()
        return self

    def stop(self, timeout: float) -> None:
        """Stop claiming; running jobs are handed back at their next progress call. Waits up to
        `timeout` seconds in all for the threads (a job blocked elsewhere is resumed by another
        process once its lease goes stale)."""
        self.stopping.set()
        for t in self._threads:
            t.join(timeout / len(self._threads))
            if t.is_alive():
                log.warning("%s is still running a job at shutdown", t.name)

    def running(self) -> dict[int, int]:
        """Jobs running in this process per namespace (for tests and diagnostics)."""
        with self._claiming:
            return {ns: n for ns, n in self._running.items() if n}

    def _claim(self, worker: str) -> Job | None:
        with self._claiming:
            full = [ns for ns, n in self._running.items() if n >= self.cap]
            job = claim_one(self.ctx, worker, self.handlers, avoid=full)
            if job is not None and job.namespace_id is not None:
                self._running[job.namespace_id] += 1
            return job

    def _loop(self, worker: str) -> None:
        while not self.stopping.is_set():
            try:
                job = self._claim(worker)
            except Exception:  # the database is away: try again at the next poll
                log.warning("%s could not claim a job", worker, exc_info=True)
                job = None
            if job is None:
                self.stopping.wait(self.poll_seconds)
                continue
            try:
                run_claimed(self.ctx, worker, self.handlers, job, self.stopping)
            except Exception:  # e.g. the job's outcome could not be recorded; its lease will go stale
                log.exception("%s: job %s ended without its outcome recorded", worker, job.id)
            finally:
                if job.namespace_id is not None:
                    with self._claiming:
                        self._running[job.namespace_id] -= 1
