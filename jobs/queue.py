"""A job queue in PostgreSQL: with several service processes on one database, each job runs once.

A worker claims a claimable job with `FOR UPDATE SKIP LOCKED` (two workers never get the same row),
the oldest of the namespaces with the fewest running jobs first, then keeps a heartbeat while it
works (jobs/lease.py). A job whose worker died (kill -9, lost machine)
stops beating; after `stale_after` it is claimable again, and the next worker resumes it. Handlers
are therefore written to be idempotent and to derive their progress from what is stored, never
from memory. A heartbeat that finds the job taken by another worker raises `LeaseLost`, so a
worker that was presumed dead and comes back stops instead of racing its successor.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

OPEN = ("queued", "running")
MAX_ATTEMPTS = 5  # a job that killed its worker this many times is failed, not retried forever


class LeaseLost(Exception):
    """Another worker holds the job now: stop without writing anything more."""


@dataclass(frozen=True)
class Job:
    id: uuid.UUID
    kind: str
    namespace_id: int | None  # None: a job for the whole database (retention)
    params: dict[str, Any]
    status: str
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    worker: str | None
    heartbeat_at: datetime | None
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


COLUMNS = ("id, kind, namespace_id, params, status, done, total, result, error, attempts, worker, heartbeat_at,"
           " requested_by, created_at, started_at, finished_at")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def enqueue(conn: psycopg.Connection[Any], kind: str, namespace_id: int | None,
            params: dict[str, Any] | None = None, requested_by: str = "api") -> tuple[Job, bool]:
    """Queue a job, or return the namespace's open job of that kind. Returns (job, created).
    The kinds are listed in jobs/kinds.py (and in the table's CHECK constraint)."""
    with conn.cursor(row_factory=class_row(Job)) as cur:
        try:
            row = cur.execute(
                f"INSERT INTO jobs (kind, namespace_id, params, requested_by) VALUES (%s, %s, %s, %s)"
                f" ON CONFLICT (kind, namespace_id) WHERE status IN ('queued', 'running') DO NOTHING"
                f" RETURNING {COLUMNS}",
                (kind, namespace_id, Jsonb(params or {}), requested_by),
            ).fetchone()
        except psycopg.errors.CheckViolation as exc:
            raise ValueError(f"unknown job kind {kind!r}") from exc
        if row is not None:
            return row, True
        existing = cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE kind = %s AND namespace_id IS NOT DISTINCT FROM %s"
            f" AND status IN ('queued', 'running')",
            (kind, namespace_id),
        ).fetchone()
    if existing is None:  # finished between the two statements: queue a fresh one
        return enqueue(conn, kind, namespace_id, params, requested_by)
    return existing, False


def claim(conn: psycopg.Connection[Any], worker: str, kinds: Sequence[str],
          stale_after: timedelta = timedelta(seconds=30), job_id: uuid.UUID | None = None,
          avoid: Sequence[int] = ()) -> Job | None:
    """Take a queued job (or job `job_id`), or a running one whose worker stopped beating.

    Jobs of the namespaces with the fewest running jobs come first, then the oldest; namespaces in
    `avoid` (those already holding as many of the caller's workers as they may) are left for later.
    """
    with conn.transaction(), conn.cursor(row_factory=class_row(Job)) as cur:
        cur.execute(
            "UPDATE jobs SET status = 'failed', finished_at = now(),"
            " error = coalesce(error, 'gave up after ' || attempts || ' attempts: the worker died each time')"
            " WHERE status = 'running' AND heartbeat_at < now() - %s AND attempts >= %s",
            (stale_after, MAX_ATTEMPTS),
        )
        return cur.execute(
            f"UPDATE jobs SET status = 'running', worker = %(w)s, heartbeat_at = now(), attempts = attempts + 1,"
            f" started_at = coalesce(started_at, now())"
            f" WHERE id = (WITH busy AS (SELECT namespace_id, count(*) AS running FROM jobs"
            f"     WHERE status = 'running' AND heartbeat_at >= now() - %(stale)s GROUP BY namespace_id)"
            f"   SELECT j.id FROM jobs j LEFT JOIN busy b ON b.namespace_id = j.namespace_id"
            f"   WHERE j.kind = ANY(%(kinds)s) AND (%(job)s::uuid IS NULL OR j.id = %(job)s)"
            f"   AND (j.status = 'queued' OR (j.status = 'running' AND j.heartbeat_at < now() - %(stale)s))"
            f"   AND (j.namespace_id IS NULL OR j.namespace_id <> ALL(%(avoid)s::bigint[]))"
            f"   ORDER BY coalesce(b.running, 0), j.created_at LIMIT 1 FOR UPDATE OF j SKIP LOCKED)"
            f" RETURNING {COLUMNS}",
            {"w": worker, "kinds": list(kinds), "stale": stale_after, "job": job_id, "avoid": list(avoid)},
        ).fetchone()


def heartbeat(conn: psycopg.Connection[Any], job: Job, worker: str, done: int | None = None,
              total: int | None = None) -> None:
    """Record progress and that the worker is alive; raise LeaseLost if the job is no longer ours."""
    row = conn.execute(
        "UPDATE jobs SET heartbeat_at = now(), done = coalesce(%s, done), total = coalesce(%s, total)"
        " WHERE id = %s AND worker = %s AND status = 'running' RETURNING id",
        (done, total, job.id, worker),
    ).fetchone()
    if row is None:
        raise LeaseLost(f"job {job.id} is no longer held by {worker}")


def finish(conn: psycopg.Connection[Any], job: Job, worker: str, result: dict[str, Any] | None = None) -> None:
    row = conn.execute(
        "UPDATE jobs SET status = 'done', finished_at = now(), heartbeat_at = now(), result = %s"
        " WHERE id = %s AND worker = %s AND status = 'running' RETURNING id",
        (Jsonb(result or {}), job.id, worker),
    ).fetchone()
    if row is None:
        raise LeaseLost(f"job {job.id} is no longer held by {worker}")


def fail(conn: psycopg.Connection[Any], job: Job, worker: str, error: str) -> None:
    conn.execute(
        "UPDATE jobs SET status = 'failed', finished_at = now(), error = %s"
        " WHERE id = %s AND worker = %s AND status = 'running'",
        (error[:2000], job.id, worker),
    )


def release(conn: psycopg.Connection[Any], job: Job, worker: str) -> None:
    """Hand a job back to the queue (its process is shutting down): another worker resumes it now,
    not after the stale window, and the interrupted run does not count as an attempt."""
    conn.execute(
        "UPDATE jobs SET status = 'queued', worker = NULL, heartbeat_at = NULL, attempts = greatest(attempts - 1, 0)"
        " WHERE id = %s AND worker = %s AND status = 'running'",
        (job.id, worker),
    )


def get(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID) -> Job | None:
    with conn.cursor(row_factory=class_row(Job)) as cur:
        return cur.execute(f"SELECT {COLUMNS} FROM jobs WHERE id = %s AND namespace_id = %s",
                           (job_id, namespace_id)).fetchone()


def recent(conn: psycopg.Connection[Any], namespace_id: int, kind: str | None = None, limit: int = 20) -> list[Job]:
    with conn.cursor(row_factory=class_row(Job)) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE namespace_id = %s AND (%s::text IS NULL OR kind = %s)"
            f" ORDER BY created_at DESC LIMIT %s",
            (namespace_id, kind, kind, limit),
        ).fetchall()


def latest(conn: psycopg.Connection[Any], namespace_id: int, kind: str) -> Job | None:
    """The namespace's newest job of this kind, whatever its status (the operator's page shows it)."""
    with conn.cursor(row_factory=class_row(Job)) as cur:
        return cur.execute(
            f"SELECT {COLUMNS} FROM jobs WHERE namespace_id = %(ns)s AND kind = %(kind)s"
            f" ORDER BY created_at DESC, id DESC LIMIT 1",
            {"ns": namespace_id, "kind": kind},
        ).fetchone()
