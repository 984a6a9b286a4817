"""The job worker: runs a claimed job's handler with its lease renewed beside it, records success or
failure, stops quietly when its lease was taken over, and hands the job back when stopping."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, Iterator

import psycopg
import pytest

from agentmem.api.services import Services
from agentmem.jobs import queue, worker
from agentmem.jobs.context import JobContext
from conftest import hash_services


@pytest.fixture
def services(fresh_db: str, tmp_path: Any) -> Iterator[Services]:
    # A short stale window, renewed ten times per window: a blocked job outlives the window many times.
    with hash_services(fresh_db, tmp_path, job_stale_after_seconds=1.0, job_heartbeat_seconds=0.1) as svc:
        yield svc


@pytest.fixture
def ns(db: psycopg.Connection[Any]) -> int:
    return db.execute("INSERT INTO namespaces (name) VALUES ('worker-test') RETURNING id").fetchone()[0]


def test_a_job_runs_once_and_records_its_result(services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    calls: list[Any] = []

    def handle(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        calls.append(job.id)
        progress(1, 2)
        progress(2)
        return {"ran": True}

    job, _ = queue.enqueue(db, "probes", ns)
    assert worker.drain(services.jobs, "w1", {"probes": handle}) == 1
    assert worker.drain(services.jobs, "w2", {"probes": handle}) == 0
    done = queue.get(db, ns, job.id)
    assert calls == [job.id] and done is not None
    assert (done.status, done.done, done.total, done.result) == ("done", 2, 2, {"ran": True})


def test_only_the_kinds_given_are_claimed(services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    queue.enqueue(db, "reembed", ns)
    assert worker.drain(services.jobs, "w1", {"probes": lambda *_: {}}) == 0


def test_a_failing_handler_fails_the_job_not_the_worker(services: Services, db: psycopg.Connection[Any],
                                                        ns: int) -> None:
    def handle(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        raise RuntimeError("source unreachable")

    job, _ = queue.enqueue(db, "probes", ns)
    assert worker.run_one(services.jobs, "w1", {"probes": handle}) is not None
    failed = queue.get(db, ns, job.id)
    assert failed is not None and failed.status == "failed" and failed.error == "RuntimeError: source unreachable"


def test_a_worker_that_lost_its_lease_leaves_the_job_to_its_new_owner(
        services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    def handle(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        db.execute("UPDATE jobs SET worker = 'successor' WHERE id = %s", (job.id,))  # taken over meanwhile
        progress(1)
        raise AssertionError("unreachable: progress raises LeaseLost")

    job, _ = queue.enqueue(db, "probes", ns)
    worker.run_one(services.jobs, "presumed-dead", {"probes": handle})
    after = queue.get(db, ns, job.id)
    assert after is not None and (after.status, after.worker, after.error) == ("running", "successor", None)


def test_a_job_blocked_longer_than_the_stale_window_is_not_taken_over(
        services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    """The job waits (on the model, a webhook) without calling progress for 3 stale windows: its lease
    is renewed meanwhile, so another worker never takes it, and it runs once."""
    stale = timedelta(seconds=services.settings.job_stale_after_seconds)
    release = threading.Event()
    runs: list[Any] = []

    def handle(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        runs.append(job.id)
        release.wait()
        return {"waited": True}

    job, _ = queue.enqueue(db, "probes", ns)
    runner = threading.Thread(target=worker.run_one, args=(services.jobs, "slow", {"probes": handle}))
    runner.start()
    try:
        for _ in range(6):  # 3 s: three stale windows
            time.sleep(stale.total_seconds() / 2)
            assert queue.claim(db, "rival", ["probes"], stale) is None
    finally:
        release.set()
        runner.join()
    done = queue.get(db, ns, job.id)
    assert runs == [job.id]
    assert done is not None and (done.status, done.worker, done.attempts) == ("done", "slow", 1)


def test_a_dead_workers_job_is_still_reclaimed(services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    """A worker that died keeps no lease thread: its job goes stale and the next worker resumes it."""
    job, _ = queue.enqueue(db, "probes", ns)
    assert queue.claim(db, "dead", ["probes"]) is not None  # claimed, then the process died
    assert worker.run_one(services.jobs, "early", {"probes": lambda *_: {}}) is None  # still fresh
    db.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = %s", (job.id,))
    assert worker.run_one(services.jobs, "successor", {"probes": lambda *_: {"resumed": True}}) is not None
    done = queue.get(db, ns, job.id)
    assert done is not None and (done.status, done.worker, done.attempts) == ("done", "successor", 2)


def test_a_stopping_process_hands_its_job_back(services: Services, db: psycopg.Connection[Any], ns: int) -> None:
    stopping = threading.Event()

    def handle(ctx: JobContext, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        progress(1, 10)
        stopping.set()  # shutdown begins
        progress(2, 10)
        raise AssertionError("unreachable: progress raises Interrupted")

    job, _ = queue.enqueue(db, "probes", ns)
    claimed = worker.claim_one(services.jobs, "w1", {"probes": handle})
    assert claimed is not None
    worker.run_claimed(services.jobs, "w1", {"probes": handle}, claimed, stopping)
    back = queue.get(db, ns, job.id)
    assert back is not None and (back.status, back.worker, back.attempts, back.done) == ("queued", None, 0, 1)
