"""A running job's lease: renewed from its own thread whatever the job does, stopped with the job,
and marked lost when another worker holds the job."""

from __future__ import annotations

import time
from typing import Any, Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from agentmem.core.database import open_pool
from agentmem.jobs import queue
from agentmem.jobs.lease import Lease, beat_interval

EVERY = 0.05


@pytest.fixture
def pool(fresh_db: str) -> Iterator[ConnectionPool]:
    pool = open_pool(fresh_db, 1, 2)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def job(db: psycopg.Connection[Any]) -> queue.Job:
    ns = db.execute("INSERT INTO namespaces (name) VALUES ('lease-test') RETURNING id").fetchone()[0]
    queue.enqueue(db, "reembed", ns)
    claimed = queue.claim(db, "w", ["reembed"])
    assert claimed is not None
    return claimed


def _beat(db: psycopg.Connection[Any], job: queue.Job) -> Any:
    return db.execute("SELECT heartbeat_at FROM jobs WHERE id = %s", (job.id,)).fetchone()[0]


def _wait_for(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(EVERY)
    return False


def test_the_heartbeat_advances_while_the_job_does_nothing_and_stops_with_it(
        pool: ConnectionPool, db: psycopg.Connection[Any], job: queue.Job) -> None:
    claimed_at = _beat(db, job)
    with Lease(pool, job, "w", EVERY) as lease:
        assert _wait_for(lambda: _beat(db, job) > claimed_at)
        lease.check()  # still ours
    ended_at = _beat(db, job)
    time.sleep(EVERY * 6)
    assert _beat(db, job) == ended_at


def test_a_takeover_marks_the_lease_lost(pool: ConnectionPool, db: psycopg.Connection[Any], job: queue.Job) -> None:
    with Lease(pool, job, "w", EVERY) as lease:
        db.execute("UPDATE jobs SET worker = 'successor' WHERE id = %s", (job.id,))
        assert lease.lost.wait(10)
        with pytest.raises(queue.LeaseLost):
            lease.check()
    after = queue.get(db, job.namespace_id or 0, job.id)
    assert after is not None and after.worker == "successor"


def test_beats_come_at_least_three_times_per_stale_window() -> None:
    assert beat_interval(30, 5) == 5
    assert beat_interval(3, 5) == 1
    assert beat_interval(0.3, 5) == pytest.approx(0.1)
