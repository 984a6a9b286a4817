"""The PostgreSQL job queue: one open job per kind and namespace, a job claimed by one worker at a
time, a dead worker's job reclaimed, and a worker that lost its lease stopped."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from agentmem.jobs import queue
from agentmem.jobs.kinds import KINDS

ALL = list(KINDS)


@pytest.fixture
def ns(db: psycopg.Connection[Any]) -> int:
    return db.execute("INSERT INTO namespaces (name) VALUES ('jobs-test') RETURNING id").fetchone()[0]


def test_asking_twice_returns_the_open_job(db: psycopg.Connection[Any], ns: int) -> None:
    first, created = queue.enqueue(db, "reembed", ns, {"model": "x"})
    again, created_again = queue.enqueue(db, "reembed", ns)
    assert created and not created_again and again.id == first.id
    other_kind, made = queue.enqueue(db, "probes", ns)
    assert made and other_kind.id != first.id
    worker = queue.worker_name()
    job = queue.claim(db, worker, kinds=["reembed"])
    assert job is not None and job.id == first.id
    queue.finish(db, job, worker, {"ok": True})
    fresh, created = queue.enqueue(db, "reembed", ns)  # a finished job does not block a new one
    assert created and fresh.id != first.id


def test_concurrent_workers_never_claim_the_same_job(fresh_db: str, db: psycopg.Connection[Any], ns: int) -> None:
    for kind in ("reembed", "probes"):
        queue.enqueue(db, kind, ns)
    claimed: list[Any] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            barrier.wait()
            job = queue.claim(conn, queue.worker_name(), ALL)
            claimed.append(job.id if job else None)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = [c for c in claimed if c is not None]
    assert len(got) == 2 and len(set(got)) == 2 and claimed.count(None) == 4


def test_a_dead_workers_job_is_reclaimed_and_the_old_worker_stops(db: psycopg.Connection[Any], ns: int) -> None:
    queue.enqueue(db, "reembed", ns)
    dead, alive = "dead-worker", "alive-worker"
    job = queue.claim(db, dead, ALL)
    assert job is not None and job.attempts == 1
    assert queue.claim(db, alive, ALL) is None  # still beating (just claimed)
    db.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 minute' WHERE id = %s", (job.id,))
    taken = queue.claim(db, alive, ALL, stale_after=timedelta(seconds=30))
    assert taken is not None and taken.id == job.id and taken.attempts == 2 and taken.worker == alive
    with pytest.raises(queue.LeaseLost):
        queue.heartbeat(db, job, dead, done=5)
    with pytest.raises(queue.LeaseLost):
        queue.finish(db, job, dead)
    queue.heartbeat(db, taken, alive, done=7, total=10)
    queue.finish(db, taken, alive, {"embedded": 10})
    final = queue.get(db, ns, job.id)
    assert final is not None and (final.status, final.done, final.total) == ("done", 7, 10)
    assert final.result == {"embedded": 10}


def test_a_job_that_keeps_killing_its_worker_is_failed(db: psycopg.Connection[Any], ns: int) -> None:
    job, _ = queue.enqueue(db, "probes", ns)
    db.execute("UPDATE jobs SET status = 'running', attempts = %s, heartbeat_at = now() - interval '1 hour'"
               " WHERE id = %s", (queue.MAX_ATTEMPTS, job.id))
    assert queue.claim(db, "w", ALL) is None
    final = queue.get(db, ns, job.id)
    assert final is not None and final.status == "failed" and "gave up" in (final.error or "")


def test_jobs_are_visible_only_in_their_namespace(db: psycopg.Connection[Any], ns: int) -> None:
    other = db.execute("INSERT INTO namespaces (name) VALUES ('other') RETURNING id").fetchone()[0]
    job, _ = queue.enqueue(db, "reembed", ns)
    assert queue.get(db, other, job.id) is None and queue.recent(db, other) == []
    assert [j.id for j in queue.recent(db, ns)] == [job.id]


def test_claims_prefer_namespaces_with_fewer_running_jobs(db: psycopg.Connection[Any], ns: int) -> None:
    other = db.execute("INSERT INTO namespaces (name) VALUES ('other') RETURNING id").fetchone()[0]
    queue.enqueue(db, "reembed", ns)
    busy_older, _ = queue.enqueue(db, "probes", ns)
    newer, _ = queue.enqueue(db, "probes", other)
    assert queue.claim(db, "w1", ["reembed"]) is not None  # ns now has a running job
    first = queue.claim(db, "w2", ["probes"])
    assert first is not None and first.id == newer.id  # though busy_older was queued before it
    second = queue.claim(db, "w3", ["probes"])
    assert second is not None and second.id == busy_older.id


def test_a_claim_skips_the_namespaces_it_is_told_to_avoid(db: psycopg.Connection[Any], ns: int) -> None:
    queue.enqueue(db, "probes", ns)
    assert queue.claim(db, "w", ["probes"], avoid=[ns]) is None
    assert queue.claim(db, "w", ["probes"], avoid=[ns + 1]) is not None


def test_a_job_for_the_whole_database_is_open_once(db: psycopg.Connection[Any]) -> None:
    first, created = queue.enqueue(db, "retention", None)
    again, created_again = queue.enqueue(db, "retention", None)
    assert created and not created_again and again.id == first.id
    claimed = queue.claim(db, "w", ["retention"], avoid=[1])
    assert claimed is not None and claimed.namespace_id is None


def test_an_unknown_kind_is_refused(db: psycopg.Connection[Any], ns: int) -> None:
    with pytest.raises(ValueError, match="unknown job kind 'nope'"):
        queue.enqueue(db, "nope", ns)
