"""Connections under concurrency (api/deps.py, retrieval/): many requests on a small pool all finish,
and a pool with no free connection answers 503 with Retry-After instead of hanging or answering 500."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import httpx
import numpy as np

from agentmem.api.in_thread import make_tenant, serve
from agentmem.core.settings import Settings
from hash_embedder import HashEmbedder
from locks import namespace_locked, wait_until_blocked


def _seed(base: str, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=base, timeout=120) as c:
        docs = [{"source_uri": f"kb://{i}", "text": f"Note {i}: the deploy runs on host {i} at {i} o'clock."}
                for i in range(6)]
        assert c.post("/documents/batch", json={"documents": docs}, headers=headers).status_code == 200
        r = c.post("/tasks", json={"goal": "Find the deploy host", "constraints": ["cite sources"]}, headers=headers)
        assert r.status_code == 201, r.text
        task = r.json()["id"]
        for i in range(3):
            r = c.post(f"/tasks/{task}/scratchpad", json={"kind": "note", "content": f"Checked host {i}.",
                                                          "unsourced": True}, headers=headers)
            assert r.status_code == 201, r.text
        return str(task)


def test_concurrent_searches_and_assemblies_on_a_pool_of_two_all_answer(fresh_db: str, embedder: Any) -> None:
    """The old shape: the key lookup held a connection for the whole request while /search and
    /context/assemble took one to three more from the same pool. With as many requests as that
    pool has connections, each held one and waited for another until the pool timed out (500)."""
    # The namespace's in-flight limit above the 12 clients: a client may send its next request before the
    # server has counted the previous one out (seen once as a 429 on a fast machine); admission is not
    # what this test is about.
    settings = Settings(pool_max_size=2, io_threads=2, pool_timeout_seconds=30, namespace_in_flight=24)
    with serve(fresh_db, embedder, settings) as running:
        headers = make_tenant(running, "alpha")
        task = _seed(running.base_url, headers)

        def call(i: int) -> int:
            with httpx.Client(base_url=running.base_url, timeout=120) as c:
                if i % 2:
                    return c.post("/search", json={"query": f"deploy host {i}", "k": 3}, headers=headers).status_code
                body = {"query": f"which host deploys {i}", "budget_tokens": 400, "task_id": task}
                return c.post("/context/assemble", json=body, headers=headers).status_code

        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(call, range(24)))
    assert statuses == [200] * 24


def test_a_pool_with_no_free_connection_answers_503_with_retry_after(fresh_db: str, embedder: Any) -> None:
    settings = Settings(pool_max_size=1, pool_timeout_seconds=0.2)
    with serve(fresh_db, embedder, settings) as running:
        alpha, beta = make_tenant(running, "alpha"), make_tenant(running, "beta")
        with ThreadPoolExecutor(1) as pool, namespace_locked(fresh_db, "alpha"):
            # alpha's write holds the only connection while it waits for the lock
            blocked = pool.submit(lambda: httpx.put(f"{running.base_url}/documents", headers=alpha, timeout=120,
                                                    json={"source_uri": "kb://a", "text": "Alpha's document."}))
            wait_until_blocked(fresh_db)
            r = httpx.get(f"{running.base_url}/settings/retrieval", headers=beta, timeout=60)
            assert r.status_code == 503, r.text
            assert int(r.headers["Retry-After"]) >= 1
            error = r.json()["error"]
            assert error["code"] == "overloaded" and error["limit"] == "pool_max_size" and error["value"] == 1
            assert "pool_timeout_seconds" in error["message"]
            # operators still get this process's numbers; the database's are left out
            metrics = httpx.get(f"{running.base_url}/metrics", timeout=60,
                                headers={"Authorization": f"Bearer {running.admin_token}"})
            assert metrics.status_code == 200
            assert 'agentmem_db_pool_connections{state="in_use"} 1.0' in metrics.text
            timeouts = re.search(r"^agentmem_db_pool_timeouts_total (\S+)$", metrics.text, re.M)
            assert timeouts and float(timeouts.group(1)) >= 1
            assert 'agentmem_rejections_total{namespace="",reason="pool",status="503"} 1.0' in metrics.text
        assert blocked.result().status_code == 200
        assert httpx.get(f"{running.base_url}/settings/retrieval", headers=beta, timeout=60).status_code == 200


class GatedEmbedder(HashEmbedder):
    """Holds the embedding of any text containing GATE until `release`: a slow batch, on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if any("GATE" in t for t in texts):
            self.entered.set()
            assert self.release.wait(60)
        return super().embed(texts)


def test_a_document_write_holds_no_connection_while_its_chunks_are_embedded(fresh_db: str) -> None:
    """With one pooled connection, a read answers while a write's chunks are in the model: before,
    the write held the connection through the embedding and the read got 503 after the pool timeout."""
    gated = GatedEmbedder()
    with serve(fresh_db, gated, Settings(pool_max_size=1, pool_timeout_seconds=5)) as running:
        alpha = make_tenant(running, "alpha")
        with ThreadPoolExecutor(1) as pool:
            write = pool.submit(lambda: httpx.put(f"{running.base_url}/documents", headers=alpha, timeout=120,
                                                  json={"source_uri": "kb://slow", "text": "A GATE document."}))
            assert gated.entered.wait(60)
            read = httpx.get(f"{running.base_url}/documents/{uuid.uuid4()}", headers=alpha, timeout=60)
            gated.release.set()
            assert write.result().status_code == 200
        assert read.status_code == 404, read.text  # the read reached the database: the pool was free


def test_a_scratchpad_write_holds_no_connection_while_its_entry_is_embedded(fresh_db: str) -> None:
    """The same for an agent's step: a scratchpad entry waiting for the model leaves the pool to others."""
    gated = GatedEmbedder()
    with serve(fresh_db, gated, Settings(pool_max_size=1, pool_timeout_seconds=5)) as running:
        alpha = make_tenant(running, "alpha")
        task = httpx.post(f"{running.base_url}/tasks", headers=alpha, timeout=60, json={"goal": "g"}).json()["id"]
        with ThreadPoolExecutor(1) as pool:
            write = pool.submit(lambda: httpx.post(
                f"{running.base_url}/tasks/{task}/scratchpad", headers=alpha, timeout=120,
                json={"kind": "note", "content": "A GATE note.", "citations": []}))
            assert gated.entered.wait(60)
            read = httpx.get(f"{running.base_url}/documents/{uuid.uuid4()}", headers=alpha, timeout=60)
            gated.release.set()
            assert write.result().status_code == 201, write.result().text
        assert read.status_code == 404, read.text  # the read reached the database: the pool was free
        entries = httpx.get(f"{running.base_url}/tasks/{task}/scratchpad", headers=alpha, timeout=60).json()
        assert [e["content"] for e in entries] == ["A GATE note."]
