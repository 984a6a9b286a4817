"""The job worker: runs a claimed job's handler, records success or failure, and stops quietly
when its lease was taken over."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest

from agentmem.api.services import Services
from conftest import hash_services
from agentmem.jobs import queue, worker


@pytest.fixture
def services(fresh_db: str, tmp_path: Any) -> Iterator[Services]:
    with hash_services(fresh_db, tmp_path) as svc:
        yield svc


@pytest.fixture
def ns(db: psycopg.Connection[Any]) -> int:
    return db.execute("INSERT INTO namespaces (name) VALUES ('worker-test') RETURNING id").fetchone()[0]


def test_a_job_runs_once_and_records_its_result(services: Services, db: psycopg.Connection[Any], ns: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def handle(svc: Services, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        calls.append(job.id)
        progress(1, 2)
        progress(2)
        return {"ran": True}

    monkeypatch.setitem(worker.HANDLERS, "probes", handle)
    job, _ = queue.enqueue(db, "probes", ns)
    assert worker.drain(services, "w1", kinds=["probes"]) == 1
    assert worker.drain(services, "w2", kinds=["probes"]) == 0
    done = queue.get(db, ns, job.id)
    assert calls == [job.id] and done is not None
    assert (done.status, done.done, done.total, done.result) == ("done", 2, 2, {"ran": True})


def test_a_failing_handler_fails_the_job_not_the_worker(services: Services, db: psycopg.Connection[Any], ns: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def handle(svc: Services, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        raise RuntimeError("source unreachable")

    monkeypatch.setitem(worker.HANDLERS, "probes", handle)
    job, _ = queue.enqueue(db, "probes", ns)
    assert worker.run_one(services, "w1", kinds=["probes"]) is not None
    failed = queue.get(db, ns, job.id)
    assert failed is not None and failed.status == "failed" and failed.error == "RuntimeError: source unreachable"


def test_a_worker_that_lost_its_lease_leaves_the_job_to_its_new_owner(
        services: Services, db: psycopg.Connection[Any], ns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def handle(svc: Services, job: queue.Job, progress: worker.Progress) -> dict[str, Any]:
        db.execute("UPDATE jobs SET worker = 'successor' WHERE id = %s", (job.id,))  # taken over meanwhile
        progress(1)
        raise AssertionError("unreachable: progress raises LeaseLost")

    monkeypatch.setitem(worker.HANDLERS, "probes", handle)
    job, _ = queue.enqueue(db, "probes", ns)
    worker.run_one(services, "presumed-dead", kinds=["probes"])
    after = queue.get(db, ns, job.id)
    assert after is not None and (after.status, after.worker, after.error) == ("running", "successor", None)
