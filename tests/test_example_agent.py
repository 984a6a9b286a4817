"""examples/research_agent.py runs as written against the service on a real port: with the stand-in model
(no OPENAI_* variables), and with an OpenAI-compatible endpoint (a local stub) whose answer cites nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from agentmem_client import AgentMem

from agentmem.api.in_thread import Running, serve

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "research_agent.py"


@pytest.fixture
def service(fresh_db: str, embedder: Any) -> Iterator[Running]:
    with serve(fresh_db, embedder) as running:
        yield running


def agent_key(running: Running) -> str:
    with AgentMem(running.base_url, admin_token=running.admin_token) as op:
        op.admin.create_namespace("research")
        return op.admin.create_key("research", "research agent", role="agent").key


def run_example(running: Running, key: str, *args: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    ran = subprocess.run([sys.executable, str(EXAMPLE), *args], check=False, capture_output=True, text=True,
                         env={**clean, "AGENTMEM_URL": running.base_url, "AGENTMEM_API_KEY": key, **env})
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_the_agent_loop_runs_with_the_stand_in(service: Running) -> None:
    key = agent_key(service)
    out = run_example(service, key, "--seed", "--budget", "600")
    assert "model: STAND-IN" in out
    assert out.count("assembled ") == 3 and "unsourced claims: 0" in out and "completed: summary" in out
    assert "freshness: score" in out and "5 documents" in out  # four notes and the task's summary
    task_id = out.split("task ", 1)[1].split(":", 1)[0]
    with AgentMem(service.base_url, key) as mem:
        task = mem.tasks.get(task_id)
        assert task.status == "completed" and task.pinned == [{"label": "audience",
                                                               "text": "the on-call database engineers"}]
        entries = mem.scratchpad.list(task_id)
        assert [e.step for e in entries] == [1, 2, 3] and not any(e.unsourced for e in entries)
        cited = [{c["source"] for c in e.citations} for e in entries]
        assert all(len(c) == 1 for c in cited) and len(set.union(*cited)) == 3  # a different note each step
        assert all(c <= {"notes://pgvector-hnsw", "notes://hnsw-tuning", "notes://bm25", "notes://ivfflat"}
                   for c in cited)
        for e in entries:  # each answer quotes the context item it cites, by that item's ref
            claim, ref = e.content.rstrip("]").rsplit(" [", 1)
            [citation] = e.citations
            assert citation["locator"] == ref and claim in citation["quote"]
        assert entries[0].written_by is not None and entries[0].written_by.label == "research agent"


class Stub(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions answering a claim with no ref; it keeps what it was asked."""

    asked: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.asked.append({"path": self.path, "auth": self.headers["Authorization"], **request})
        reply = json.dumps({"choices": [{"message": {"role": "assistant",
                                                     "content": "HNSW is always the best index."}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_openai_compatible_model_and_its_unsourced_claims(service: Running) -> None:
    key = agent_key(service)
    with ThreadingHTTPServer(("127.0.0.1", 0), Stub) as stub:
        threading.Thread(target=stub.serve_forever, daemon=True).start()
        try:
            out = run_example(service, key, "--seed", "--step", "How does HNSW answer a query?",
                              OPENAI_BASE_URL=f"http://127.0.0.1:{stub.server_address[1]}/v1",
                              OPENAI_API_KEY="sk-test", OPENAI_MODEL="stub-model")
        finally:
            stub.shutdown()
    assert "model: stub-model at http://127.0.0.1" in out and "STAND-IN" not in out
    assert "unsourced claims: 1" in out and "HNSW is always the best index." in out
    [asked] = Stub.asked
    assert asked["path"] == "/v1/chat/completions" and asked["auth"] == "Bearer sk-test"
    assert asked["model"] == "stub-model" and "notes://" in asked["messages"][-1]["content"]
    assert "How does HNSW answer a query?" in asked["messages"][-1]["content"]
