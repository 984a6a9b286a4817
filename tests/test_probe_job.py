"""The probes job on the queue: scheduled for the namespaces that have probes, run once however many
workers drain the queue, and resumable (a job taken over from a dead worker repeats nothing)."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import psycopg
import pytest

from agentmem.api.services import Services
from conftest import hash_services
from agentmem.jobs import probe_store as store
from agentmem.jobs import probes, queue, scheduler, worker
from agentmem.jobs.probe_scoring import score_probe
from webhook_server import receiver

PROBES = {"probes": probes.run}


@pytest.fixture
def services(fresh_db: str, tmp_path: Any) -> Iterator[Services]:
    # The test receiver listens on loopback, which webhooks reach only when allowed.
    with hash_services(fresh_db, tmp_path, pool_size=8, webhook_backoff_seconds=0,
                       webhook_allow_hosts="127.0.0.1") as svc:
        yield svc


def _namespace(db: psycopg.Connection[Any], name: str) -> int:
    return int(db.execute("INSERT INTO namespaces (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0])


def _count(db: psycopg.Connection[Any], sql: str, *params: Any) -> int:
    return int(db.execute(sql, params).fetchone()[0])


def test_scheduled_runs_cover_namespaces_with_probes_once_even_with_two_workers(
        services: Services, db: psycopg.Connection[Any]) -> None:
    a, b, idle = _namespace(db, "a"), _namespace(db, "b"), _namespace(db, "idle")
    for ns in (a, b):
        store.create_probe(db, ns, "first question", ["kb://one"], 5, None)
        store.create_probe(db, ns, "second question", ["kb://two"], 5, "keyword_only")
    assert store.namespaces_with_probes(db) == [a, b]
    assert scheduler.enqueue_due(services.jobs, "probes") == 2
    assert scheduler.enqueue_due(services.jobs, "probes") == 0  # the open jobs are returned, not doubled
    ran: list[int] = []
    barrier = threading.Barrier(2)

    def drain(name: str) -> None:
        barrier.wait()
        ran.append(worker.drain(services.jobs, name, PROBES))

    threads = [threading.Thread(target=drain, args=(f"worker-{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(ran) == 2
    for ns in (a, b):
        assert _count(db, "SELECT count(*) FROM jobs WHERE namespace_id = %s AND status = 'done'"
                      " AND requested_by = 'schedule'", ns) == 1
        assert _count(db, "SELECT count(*) FROM probe_scores WHERE namespace_id = %s", ns) == 1
        assert _count(db, "SELECT count(*) FROM probe_runs WHERE namespace_id = %s", ns) == 2
        # No documents at all: both probes find nothing and alert, once.
        assert _count(db, "SELECT count(*) FROM alerts WHERE namespace_id = %s", ns) == 2
    assert _count(db, "SELECT count(*) FROM jobs WHERE namespace_id = %s", idle) == 0
    assert worker.drain(services.jobs, "worker-late", PROBES) == 0


def test_a_resumed_job_repeats_nothing_and_sends_what_is_pending(
        services: Services, db: psycopg.Connection[Any]) -> None:
    ns = _namespace(db, "resumed")
    kept = store.create_probe(db, ns, "already run", ["kb://planted"], 5, None)
    left = store.create_probe(db, ns, "not run yet", ["kb://absent"], 5, None)
    job, _ = queue.enqueue(db, "probes", ns)
    assert queue.claim(db, "dead-worker", ["probes"]) is not None
    # The dead worker had run the first probe (a result the search could not give: it is kept).
    db.execute("INSERT INTO probe_runs (probe_id, namespace_id, job_id, recall, reciprocal_rank, found, missing)"
               " VALUES (%s, %s, %s, 1, 1, ARRAY['kb://planted'], '{}')", (kept.id, ns, job.id))
    db.execute("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' WHERE id = %s", (job.id,))

    assert worker.drain(services.jobs, "successor", PROBES) == 1
    done = queue.get(db, ns, job.id)
    assert done is not None and (done.status, done.worker, done.attempts) == ("done", "successor", 2)
    runs = {r.probe_id: r for r in store.runs_of_job(db, ns, job.id)}
    assert runs[kept.id].found == ["kb://planted"] and runs[left.id].recall == 0
    assert done.result == {"probes": 2, "score": 0.5, "baseline": 0.5, "alerts": 1, "webhooks_delivered": 0}

    # Dying after the score was recorded: running the handler again records nothing twice, and only
    # sends the webhooks still pending.
    with receiver() as rec:
        db.execute("UPDATE namespaces SET alerting = alerting || jsonb_build_object('webhook_url', %s::text)"
                   " WHERE id = %s", (rec.url, ns))
        db.execute("UPDATE alerts SET webhook = 'pending' WHERE job_id = %s", (job.id,))
        result = probes.run(services.jobs, done, lambda n, total=None: None)
    assert result["webhooks_delivered"] == 1 and len(rec.received) == 1
    assert rec.received[0]["details"]["missing"] == ["kb://absent"]
    assert _count(db, "SELECT count(*) FROM probe_runs WHERE job_id = %s", job.id) == 2
    assert _count(db, "SELECT count(*) FROM probe_scores WHERE job_id = %s", job.id) == 1
    assert _count(db, "SELECT count(*) FROM alerts WHERE job_id = %s AND webhook = 'delivered'", job.id) == 1
    assert _count(db, "SELECT count(*) FROM alerts") == 1


def test_a_probe_deleted_during_a_run_is_left_out(services: Services, db: psycopg.Connection[Any]) -> None:
    ns = _namespace(db, "shrinking")
    gone = store.create_probe(db, ns, "deleted meanwhile", ["kb://x"], 5, None)
    job, _ = queue.enqueue(db, "probes", ns)
    store.delete_probe(db, ns, gone.id)
    assert store.record_run(db, ns, job.id, gone.id, score_probe(["kb://x"], [], {})) is False
    assert _count(db, "SELECT count(*) FROM probe_runs") == 0
