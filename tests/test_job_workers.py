"""Worker threads: one namespace's slow job does not hold up another namespace's, and a stopping
process hands its running jobs back to the queue."""

from __future__ import annotations

import threading
import time
from typing import Any, Iterator

import psycopg
import pytest

from agentmem.api.services import Services
from agentmem.jobs import queue, scheduler, worker
from agentmem.jobs.context import JobContext
from agentmem.jobs.workers import WorkerThreads, namespace_cap
from conftest import hash_services


@pytest.fixture
def services(fresh_db: str, tmp_path: Any) -> Iterator[Services]:
    with hash_services(fresh_db, tmp_path, pool_size=6) as svc:
        yield svc


def _namespace(db: psycopg.Connection[Any], name: str) -> int:
    return int(db.execute("INSERT INTO namespaces (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0])


def _wait_for(condition: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_slow_job_in_one_namespace_does_not_hold_up_another_namespaces(
        services: Services, db: psycopg.Connection[Any]) -> None:
    """Namespace A queues a re-embedding and a probes run that both block; B's probes, queued last,
    still run at once on the second thread: A may hold only one of the two threads."""
    a, b = _namespace(db, "a"), _namespace(db, "b")
    release = threading.Event()
    started: list[tuple[str, int | None]] = []

    def blocking(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        started.append((job.kind, job.namespace_id))
        while not release.wait(0.05):
            progress(0)
        return {}

    def probes(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        return blocking(ctx, job, progress) if job.namespace_id == a else {"quick": True}

    slow, _ = queue.enqueue(db, "reembed", a)
    a_probes, _ = queue.enqueue(db, "probes", a)
    b_probes, _ = queue.enqueue(db, "probes", b)
    threads = WorkerThreads(services.jobs, {"reembed": blocking, "probes": probes}, "proc", threads=2,
                            poll_seconds=0.05).start()
    try:
        assert _wait_for(lambda: (j := queue.get(db, b, b_probes.id)) is not None and j.status == "done")
        assert started == [("reembed", a)]
        assert threads.running() == {a: 1}
        waiting = queue.get(db, a, a_probes.id)
        assert waiting is not None and waiting.status == "queued"  # older than B's, but A is at its cap
    finally:
        release.set()
        assert _wait_for(lambda: all((j := queue.get(db, a, i)) is not None and j.status == "done"
                                     for i in (slow.id, a_probes.id)))
        threads.stop(timeout=10)


def test_stopping_hands_running_jobs_back_to_the_queue(services: Services, db: psycopg.Connection[Any]) -> None:
    a = _namespace(db, "a")
    running = threading.Event()

    def endless(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        running.set()
        while True:
            progress(0)
            time.sleep(0.02)

    job, _ = queue.enqueue(db, "reembed", a)
    threads = WorkerThreads(services.jobs, {"reembed": endless}, "proc", threads=2, poll_seconds=0.05).start()
    assert running.wait(30)
    threads.stop(timeout=10)
    back = queue.get(db, a, job.id)
    assert back is not None and (back.status, back.worker, back.attempts) == ("queued", None, 0)
    assert threads.running() == {}


def test_a_namespace_may_hold_all_threads_but_one() -> None:
    assert [namespace_cap(n) for n in (1, 2, 3, 4)] == [1, 1, 2, 3]


def test_the_service_background_runs_queued_jobs_and_stops(services: Services, db: psycopg.Connection[Any]) -> None:
    background = scheduler.start(services.jobs, "service")
    try:
        job, _ = queue.enqueue(db, "retention", None)
        assert _wait_for(lambda: db.execute("SELECT status FROM jobs WHERE id = %s", (job.id,)).fetchone()[0]
                         == "done")
    finally:
        background.shutdown(wait=True)
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("agentmem-job-"))
