"""Retention: what is past its retention is deleted in bounded batches; current versions, open jobs
and the latest probe run and score are kept; the scheduler queues one job for the whole database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from agentmem.core.database import open_pool
from agentmem.core.settings import Settings
from agentmem.jobs import queue, retention, scheduler, worker
from agentmem.jobs.kinds import HANDLERS
from conftest import hash_services

OLD, NEW = "now() - interval '40 days'", "now() - interval '1 day'"


@pytest.fixture
def pool(fresh_db: str) -> Iterator[ConnectionPool]:
    pool = open_pool(fresh_db, 1, 2)
    try:
        yield pool
    finally:
        pool.close()


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    rules: dict[str, Any] = {"retention_batch_size": 2, "retention_assemble_traces_days": 30,
                             "retention_jobs_days": 30, "retention_probe_runs_days": 30,
                             "retention_document_versions": 2, "retention_task_versions": 2}
    return Settings(data_dir=tmp_path, **(rules | overrides))


def _ns(db: psycopg.Connection[Any], name: str = "kept") -> int:
    return int(db.execute("INSERT INTO namespaces (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0])


def _traces(db: psycopg.Connection[Any], ns: int, age: str, n: int) -> None:
    for _ in range(n):
        db.execute(f"INSERT INTO assemble_traces (trace_id, namespace_id, query, budget_tokens, tokens, included,"
                   f" dropped, timings_ms, created_at) VALUES (%s, %s, 'q', 100, 10, '[]', '[]', '{{}}', {age})",
                   (uuid.uuid4(), ns))


def _document(db: psycopg.Connection[Any], ns: int, uri: str, versions: int) -> uuid.UUID:
    doc = db.execute("INSERT INTO documents (namespace_id, source_uri, kind, text, content_hash, tokens, version)"
                     " VALUES (%s, %s, 'document', 't', 'h', 1, %s) RETURNING id", (ns, uri, versions)).fetchone()[0]
    for v in range(1, versions + 1):
        db.execute("INSERT INTO document_versions (document_id, version, content_hash, tokens, chunks)"
                   " VALUES (%s, %s, 'h', 1, 1)", (doc, v))
    return doc  # type: ignore[no-any-return]


def _versions(db: psycopg.Connection[Any], table: str, key: str, parent: uuid.UUID) -> list[int]:
    return [r[0] for r in db.execute(f"SELECT version FROM {table} WHERE {key} = %s ORDER BY version", (parent,))]


def _count(db: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    return int(db.execute(sql, params).fetchone()[0])


def test_old_traces_go_in_batches_and_recent_ones_stay(pool: ConnectionPool, db: psycopg.Connection[Any],
                                                       tmp_path: Path) -> None:
    ns = _ns(db)
    _traces(db, ns, OLD, 5)
    _traces(db, ns, NEW, 2)
    calls: list[int] = []
    deleted = retention.run_rules(pool, _settings(tmp_path), lambda done, total=None: calls.append(done))
    assert deleted["assemble_traces"] == 5
    assert calls[:3] == [2, 4, 5]  # three statements of at most 2 rows; the short one ends the rule
    assert _count(db, "SELECT count(*) FROM assemble_traces") == 2
    assert _count(db, "SELECT count(*) FROM assemble_traces WHERE created_at < now() - interval '30 days'") == 0


def test_a_batch_that_ends_exactly_on_the_last_row_stops_after_an_empty_one(
        pool: ConnectionPool, db: psycopg.Connection[Any], tmp_path: Path) -> None:
    _traces(db, _ns(db), OLD, 4)
    calls: list[int] = []
    deleted = retention.run_rules(pool, _settings(tmp_path), lambda done, total=None: calls.append(done))
    assert deleted["assemble_traces"] == 4 and calls[:3] == [2, 4, 4]
    assert _count(db, "SELECT count(*) FROM assemble_traces") == 0


def test_finished_jobs_go_and_open_ones_stay(pool: ConnectionPool, db: psycopg.Connection[Any],
                                             tmp_path: Path) -> None:
    ns, other = _ns(db), _ns(db, "other")
    done_old, _ = queue.enqueue(db, "reembed", ns)
    db.execute(f"UPDATE jobs SET status = 'done', finished_at = {OLD} WHERE id = %s", (done_old.id,))
    failed_old, _ = queue.enqueue(db, "reembed", ns)
    db.execute(f"UPDATE jobs SET status = 'failed', finished_at = {OLD} WHERE id = %s", (failed_old.id,))
    done_new, _ = queue.enqueue(db, "reembed", ns)
    db.execute(f"UPDATE jobs SET status = 'done', finished_at = {NEW} WHERE id = %s", (done_new.id,))
    queued_old, _ = queue.enqueue(db, "reembed", ns)
    running_old, _ = queue.enqueue(db, "reembed", other)
    db.execute(f"UPDATE jobs SET created_at = {OLD}, started_at = {OLD}, status = CASE WHEN id = %s"
               f" THEN 'running' ELSE status END WHERE id IN (%s, %s)", (running_old.id, running_old.id, queued_old.id))
    deleted = retention.run_rules(pool, _settings(tmp_path), lambda *_: None)
    assert deleted["jobs"] == 2
    left = {r[0] for r in db.execute("SELECT id FROM jobs")}
    assert left == {done_new.id, queued_old.id, running_old.id}


def test_probe_history_keeps_each_probes_latest_run_and_each_namespaces_latest_score(
        pool: ConnectionPool, db: psycopg.Connection[Any], tmp_path: Path) -> None:
    ns = _ns(db)
    p, q = (db.execute("INSERT INTO probes (namespace_id, query, expected, k) VALUES (%s, %s, '{kb://x}', 5)"
                       " RETURNING id", (ns, name)).fetchone()[0] for name in ("p", "q"))
    for probe, days in ((p, 50), (p, 45), (p, 40), (q, 60), (q, 1)):
        db.execute("INSERT INTO probe_runs (probe_id, namespace_id, ran_at, recall, reciprocal_rank, found, missing)"
                   " VALUES (%s, %s, now() - make_interval(days => %s), 1, 1, '{}', '{}')", (probe, ns, days))
        db.execute("INSERT INTO probe_scores (namespace_id, ran_at, score, probes)"
                   " VALUES (%s, now() - make_interval(days => %s), 1, 2)", (ns, days))
    deleted = retention.run_rules(pool, _settings(tmp_path), lambda *_: None)
    runs = db.execute("SELECT probe_id, extract(day FROM now() - ran_at)::int FROM probe_runs ORDER BY 2").fetchall()
    assert sorted(runs, key=lambda r: r[1]) == [(q, 1), (p, 40)]  # p's only runs are old: its latest stays
    assert [r[0] for r in db.execute("SELECT extract(day FROM now() - ran_at)::int FROM probe_scores")] == [1]
    assert (deleted["probe_runs"], deleted["probe_scores"]) == (3, 4)


def test_versions_keep_the_newest_n_and_never_the_current_one(pool: ConnectionPool, db: psycopg.Connection[Any],
                                                               tmp_path: Path) -> None:
    ns = _ns(db)
    # Several documents across batch boundaries (2 rows a statement): 3 + 1 + 0 rows to delete.
    docs = {uri: _document(db, ns, uri, n) for uri, n in (("kb://five", 5), ("kb://three", 3), ("kb://one", 1))}
    task = db.execute("INSERT INTO tasks (namespace_id, goal, pinned_tokens, version) VALUES (%s, 'g', 1, 4)"
                      " RETURNING id", (ns,)).fetchone()[0]
    for v in (1, 2, 3):  # the versions before the current (4th) one
        db.execute("INSERT INTO task_versions (task_id, version, goal, constraints, pinned, created_at)"
                   " VALUES (%s, %s, 'g', %s, %s, now())", (task, v, Jsonb([]), Jsonb([])))
    deleted = retention.run_rules(pool, _settings(tmp_path), lambda *_: None)
    assert deleted["document_versions"] == 4 and deleted["task_versions"] == 1
    assert _versions(db, "document_versions", "document_id", docs["kb://five"]) == [4, 5]
    assert _versions(db, "document_versions", "document_id", docs["kb://three"]) == [2, 3]
    assert _versions(db, "document_versions", "document_id", docs["kb://one"]) == [1]
    assert _versions(db, "task_versions", "task_id", task) == [2, 3]


def test_a_rule_set_to_zero_keeps_everything(pool: ConnectionPool, db: psycopg.Connection[Any],
                                             tmp_path: Path) -> None:
    ns = _ns(db)
    _traces(db, ns, OLD, 3)
    doc = _document(db, ns, "kb://d", 4)
    deleted = retention.run_rules(pool, _settings(tmp_path, **{"retention_assemble_traces_days": 0,
                                                               "retention_document_versions": 0}),
                                  lambda *_: None)
    assert "assemble_traces" not in deleted and "document_versions" not in deleted
    assert _count(db, "SELECT count(*) FROM assemble_traces") == 3
    assert _versions(db, "document_versions", "document_id", doc) == [1, 2, 3, 4]


def test_the_scheduler_queues_one_job_for_the_whole_database(fresh_db: str, db: psycopg.Connection[Any],
                                                             tmp_path: Path) -> None:
    ns = _ns(db)
    _traces(db, ns, OLD, 3)
    with hash_services(fresh_db, tmp_path, retention_batch_size=2) as services:
        assert scheduler.enqueue_due(services.jobs, "retention") == 1
        assert scheduler.enqueue_due(services.jobs, "retention") == 0  # the open one is returned
        assert worker.drain(services.jobs, "w", HANDLERS) == 1
    job = db.execute("SELECT namespace_id, status, result, done FROM jobs WHERE kind = 'retention'").fetchone()
    assert job[0] is None and job[1] == "done" and job[2]["deleted"]["assemble_traces"] == 3 and job[3] == 3
    assert _count(db, "SELECT count(*) FROM assemble_traces") == 0
