"""The `retention` job: delete what is past its retention, a bounded batch per statement.

Without it `assemble_traces`, probe history, finished jobs and version rows grow forever. The
scheduler queues one job for the whole database every `retention_every_seconds` (jobs/kinds.py).
Every DELETE removes at most `retention_batch_size` rows, found by index and deleted by primary key
(`= ANY(ARRAY(...))`, as `IN (subquery)` is planned as a scan of the whole table), and commits on its
own, so no statement holds its locks (row locks on old rows only) for long, and a worker that dies
loses at most one batch: the next run carries on. What is never deleted: a document's or task's current version, an
open (queued or running) job, each probe's latest run and each namespace's latest score (the next
run compares against them). A setting of 0 turns its rule off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from agentmem.core.settings import Settings
from agentmem.jobs.context import JobContext
from agentmem.jobs.queue import Job
from agentmem.jobs.worker import Progress


@dataclass(frozen=True)
class ByAge:
    """Rows older than `setting` days; the DELETE takes %(age)s and %(n)s."""

    setting: str
    sql: str


@dataclass(frozen=True)
class KeepLast:
    """All but the newest `setting` version rows of each parent, walked in the order of the parent's
    id; the DELETE takes %(keep)s, %(n)s and %(after)s, and returns the parent id of each row."""

    setting: str
    sql: str


_NIL = uuid.UUID(int=0)

RULES: dict[str, ByAge | KeepLast] = {
    "assemble_traces": ByAge("retention_assemble_traces_days",
        "DELETE FROM assemble_traces WHERE trace_id = ANY(ARRAY(SELECT trace_id FROM assemble_traces"
        " WHERE created_at < now() - %(age)s ORDER BY created_at LIMIT %(n)s))"),
    "jobs": ByAge("retention_jobs_days",
        "DELETE FROM jobs WHERE id = ANY(ARRAY(SELECT id FROM jobs WHERE status IN ('done', 'failed')"
        " AND finished_at < now() - %(age)s ORDER BY finished_at LIMIT %(n)s))"),
    "probe_runs": ByAge("retention_probe_runs_days",
        "DELETE FROM probe_runs WHERE id = ANY(ARRAY(SELECT r.id FROM probe_runs r WHERE r.ran_at < now() - %(age)s"
        " AND EXISTS (SELECT 1 FROM probe_runs later WHERE later.probe_id = r.probe_id"
        "   AND (later.ran_at, later.id) > (r.ran_at, r.id))"
        " ORDER BY r.ran_at LIMIT %(n)s))"),
    "probe_scores": ByAge("retention_probe_runs_days",
        "DELETE FROM probe_scores WHERE id = ANY(ARRAY(SELECT s.id FROM probe_scores s WHERE s.ran_at < now() - %(age)s"
        " AND EXISTS (SELECT 1 FROM probe_scores later WHERE later.namespace_id = s.namespace_id"
        "   AND (later.ran_at, later.id) > (s.ran_at, s.id))"
        " ORDER BY s.ran_at LIMIT %(n)s))"),
    # document_versions holds every version, the current one included: keep versions > current - N.
    "document_versions": KeepLast("retention_document_versions",
        "WITH doomed AS (SELECT v.document_id, v.version FROM document_versions v"
        "   JOIN documents d ON d.id = v.document_id"
        "   WHERE d.id >= %(after)s AND v.document_id >= %(after)s AND v.version <= d.version - %(keep)s"
        "   ORDER BY v.document_id, v.version LIMIT %(n)s)"
        " DELETE FROM document_versions x USING doomed"
        " WHERE x.document_id = doomed.document_id AND x.version = doomed.version RETURNING x.document_id"),
    # task_versions holds the versions a task had before its current one: keep the N before it.
    "task_versions": KeepLast("retention_task_versions",
        "WITH doomed AS (SELECT v.task_id, v.version FROM task_versions v JOIN tasks t ON t.id = v.task_id"
        "   WHERE t.id >= %(after)s AND v.task_id >= %(after)s AND v.version < t.version - %(keep)s"
        "   ORDER BY v.task_id, v.version LIMIT %(n)s)"
        " DELETE FROM task_versions x USING doomed"
        " WHERE x.task_id = doomed.task_id AND x.version = doomed.version RETURNING x.task_id"),
}


def due(conn: psycopg.Connection[Any]) -> list[int | None]:
    """One retention job for the whole database (namespace None)."""
    return [None]


def purge(pool: ConnectionPool, rule: ByAge | KeepLast, limit: float, batch: int,
          progress: Progress, done: int = 0) -> int:
    """Apply one rule until nothing is left to delete. Returns the rows deleted."""
    deleted = 0
    after = _NIL
    while True:
        with pool.connection() as conn:
            if isinstance(rule, ByAge):
                n = conn.execute(rule.sql, {"age": timedelta(days=limit), "n": batch}).rowcount
            else:
                parents = [r[0] for r in conn.execute(rule.sql, {"keep": int(limit), "n": batch, "after": after})]
                n = len(parents)
                after = max(parents, default=after)
        deleted += n
        progress(done + deleted)  # renews nothing (the lease does), but stops a job taken over
        if n < batch:
            return deleted


def run_rules(pool: ConnectionPool, settings: Settings, progress: Progress) -> dict[str, int]:
    """Every rule whose setting is not 0, one after the other. Returns rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, rule in RULES.items():
        limit = float(getattr(settings, rule.setting))
        if limit > 0:
            deleted[table] = purge(pool, rule, limit, settings.retention_batch_size, progress,
                                   sum(deleted.values()))
    return deleted


def run(ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
    return {"deleted": run_rules(ctx.pool, ctx.settings, progress)}
