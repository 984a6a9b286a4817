"""The re-embedding job across processes: a worker killed with SIGKILL at any point is resumed by
another and every chunk ends embedded exactly once by the new model; two workers on one database
never run the same job."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from agentmem.embeddings.reembed import stale, start_migration
from agentmem.embeddings.models import namespace_models
from agentmem.jobs import queue, reembed, worker
from reembed_helpers import NEW, CountingEmbedder, assert_all_by, embedders, seed, services_for

HERE = Path(__file__).parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)])}


def _worker(url: str, mode: str, tmp_path: Path, job_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(HERE / "reembed_worker.py"), url, mode, str(tmp_path), job_id],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV, text=True)


def _start(url: str, tmp_path: Path, docs: int) -> tuple[int, queue.Job]:
    models = embedders()
    who, _ = seed(url, models, docs=docs)
    with services_for(url, models, tmp_path) as services, services.pool.connection() as conn:
        start_migration(conn, models, services.default_model, who.namespace_id, NEW.name)
        job, _ = queue.enqueue(conn, "reembed", who.namespace_id, {"model": NEW.name})
    return who.namespace_id, job


def test_kill_9_mid_job_then_a_restart_finishes_with_every_chunk_embedded_once(
        fresh_db: str, tmp_path: Path) -> None:
    namespace_id, job = _start(fresh_db, tmp_path, docs=60)
    rng = random.Random(11)
    for _ in range(2):
        proc = _worker(fresh_db, "crash", tmp_path, str(job.id))
        try:
            assert proc.stdout is not None
            for _ in range(rng.randint(3, 25)):  # batch k is announced after batch k-1 committed
                assert proc.stdout.readline().startswith("embedded"), "the worker stopped before it was killed"
            time.sleep(rng.uniform(0, 0.05))  # then die anywhere: embedding, inside a batch's transaction...
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)

    new = CountingEmbedder(NEW)
    models = embedders(new)
    with services_for(fresh_db, models, tmp_path, reembed_batch_size=8, job_stale_after_seconds=0.3) as services:
        with services.pool.connection() as conn:
            killed = queue.get(conn, namespace_id, job.id)
            assert killed is not None and killed.status == "running" and killed.attempts == 2
            left = stale(conn, namespace_id, namespace_models(conn, namespace_id, services.default_model))
            total = conn.execute("SELECT count(*) FROM chunks WHERE namespace_id = %s", (namespace_id,)).fetchone()[0]
        assert 0 < left.chunks_missing < total  # the killed workers' committed batches are kept
        restarted = None
        for _ in range(200):  # the job is claimable once the dead worker's heartbeat is stale
            restarted = worker.run_one(services.jobs, "restarted", {"reembed": reembed.run})
            if restarted is not None:
                break
            time.sleep(0.05)
        assert restarted is not None and restarted.id == job.id
        with services.pool.connection() as conn:
            done = queue.get(conn, namespace_id, job.id)
        assert done is not None and (done.status, done.attempts) == ("done", 3)
    # Only what the killed workers had not committed was embedded again; each chunk holds one vector,
    # the new model's, of its own text.
    assert new.texts == left.chunks_missing + left.entries_missing
    assert assert_all_by(fresh_db, namespace_id, NEW) == total


def test_two_worker_processes_run_the_job_once(fresh_db: str, tmp_path: Path) -> None:
    namespace_id, job = _start(fresh_db, tmp_path, docs=30)
    with psycopg.connect(fresh_db) as conn:
        vectors = conn.execute(
            "SELECT (SELECT count(*) FROM chunks WHERE namespace_id = %(ns)s)"
            " + (SELECT count(*) FROM scratchpad_entries WHERE namespace_id = %(ns)s)", {"ns": namespace_id},
        ).fetchone()[0]
    procs = [_worker(fresh_db, "race", tmp_path, str(job.id)) for _ in range(2)]
    outputs = []
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            out, _ = p.communicate(timeout=300)
            assert p.returncode == 0
            outputs.append(out.strip().split("\n")[-1].split())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    ran = [o[1] for o in outputs]
    embedded = [int(o[3]) for o in outputs]
    assert sorted(ran) == ["-", str(job.id)]  # one process ran it, the other never did
    assert sum(embedded) == vectors and sorted(embedded) == [0, vectors]
    with psycopg.connect(fresh_db) as conn:
        final = queue.get(conn, namespace_id, job.id)
    assert final is not None and (final.status, final.attempts) == ("done", 1)
    assert_all_by(fresh_db, namespace_id, NEW)
