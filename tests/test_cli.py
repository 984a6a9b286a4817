"""The console script as a user runs it: `agentmem serve` on the embedded database, `agentmem migrate`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import psycopg
import pytest

from agentmem.cli import main
from agentmem.core.migrate import available_migrations


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(method: str, url: str, token: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _start(data_dir: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AGENTMEM_ADMIN_TOKEN")}
    env["AGENTMEM_DATA_DIR"] = str(data_dir)
    proc = subprocess.Popen([sys.executable, "-m", "agentmem.cli", "serve", "--port", str(port), *extra], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"agentmem serve exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    pytest.fail("agentmem serve did not answer within 120 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_serve_embedded_starts_stops_and_reuses_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "agentmem"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port)
    try:
        token_file = data_dir / "admin_token"
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        assert _request("POST", f"{base}/admin/namespaces", token, {"name": "kept"})[0] == 201
    finally:
        _stop(proc)
    # The embedded PostgreSQL stopped with the service.
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()
    proc = _start(data_dir, port)
    try:
        status, body = _request("POST", f"{base}/admin/namespaces", token, {"name": "kept"})
        assert status == 409 and "already exists" in body["error"]["message"]
    finally:
        _stop(proc)


def test_serve_with_two_processes_shares_one_database_and_one_token(tmp_path: Path) -> None:
    """`--workers 2`: the embedded database and the admin token are made once, by the parent; both
    processes answer from the same database; stopping the parent stops them and the database."""
    data_dir = tmp_path / "agentmem"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, "--workers", "2")
    try:
        token = (data_dir / "admin_token").read_text().strip()
        assert _request("POST", f"{base}/admin/namespaces", token, {"name": "shared"})[0] == 201
        # Every new connection may land on either process: each one sees the namespace (and the token).
        answers = {_request("POST", f"{base}/admin/namespaces", token, {"name": "shared"})[0] for _ in range(12)}
        assert answers == {409}
    finally:
        _stop(proc)
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()


def test_serve_with_two_processes_fails_loudly_when_they_cannot_start(tmp_path: Path) -> None:
    """A worker that cannot start (here: no database) stops the others, and the command fails."""
    env = {k: v for k, v in os.environ.items() if k != "AGENTMEM_ADMIN_TOKEN"}
    env |= {"DATABASE_URL": f"postgresql://nobody@127.0.0.1:{_free_port()}/none", "AGENTMEM_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "agentmem.cli", "serve", "--port", str(_free_port()), "--workers", "2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert "failed to start" in done.stderr and "Connection refused" in done.stderr


def test_worker_processes_listen_with_tcp_nodelay() -> None:
    """uvicorn's socket for worker processes says protocol 0, and asyncio then leaves Nagle's algorithm on
    for every accepted connection (responses waited ~40 ms for a delayed ACK). _tcp_socket names it."""
    import asyncio

    import uvicorn

    from agentmem.cli import _tcp_socket

    sock = _tcp_socket(uvicorn.Config("x:y", host="127.0.0.1", port=0).bind_socket())
    assert sock.proto == socket.IPPROTO_TCP and sock.get_inheritable()

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                conn = transport.get_extra_info("socket")
                seen.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    assert asyncio.run(accepted_nodelay()) != 0


def test_a_pool_per_process_is_checked_against_max_connections() -> None:
    from agentmem.cli import RESERVED_CONNECTIONS, connection_budget_warning

    assert connection_budget_warning(2, 24, 100) is None
    assert connection_budget_warning(4, 24, 4 * 24 + RESERVED_CONNECTIONS) is None
    assert connection_budget_warning(4, 24, 4 * 24 + RESERVED_CONNECTIONS - 1) is not None
    message = connection_budget_warning(4, 24, 100)
    assert message is not None and "AGENTMEM_POOL_MAX_SIZE=22" in message and "max_connections (100)" in message
    assert connection_budget_warning(8, 24, None) is None  # not known: nothing to say


def test_serve_refuses_a_worker_count_below_one(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--workers", "0"])
    assert "at least 1" in capsys.readouterr().err


def test_migrate_command_on_database_url(empty_db: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_db)
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "applied 0001_foundation" in out and "applied 0002_retrieval" in out
    latest = available_migrations()[-1].version
    assert f"database is at migration {latest:04d}" in out
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] >= 1
    assert main(["migrate"]) == 0
    assert "applied" not in capsys.readouterr().out


def test_reembed_command_runs_the_job_with_a_progress_bar(fresh_db: str, monkeypatch: pytest.MonkeyPatch, capsys,
                                                          embedder, tmp_path: Path) -> None:
    from pgvector.psycopg import register_vector

    from agentmem.core.database import as_array

    from agentmem.embeddings.models import default_model
    from agentmem.embeddings.registry import Embedders
    from agentmem.memory.documents import DocumentInput, upsert_documents
    from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key

    models = Embedders.of(embedder)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, "cli", default_model(conn, models).id)
        who = resolve_key(conn, issue_key(conn, "cli", "k").key)
        upsert_documents(conn, models, who, [DocumentInput(f"d{i}", f"Some text number {i}. " * 30) for i in range(3)],
                         32)
        changed = conn.execute("UPDATE chunks SET text = 'edited behind the service' WHERE id = "
                               "(SELECT min(id) FROM chunks) RETURNING id, embedding").fetchone()
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    monkeypatch.setenv("AGENTMEM_DATA_DIR", str(tmp_path))
    assert main(["reembed", "--namespace", "nowhere"]) == 2
    assert "no namespace named 'nowhere'" in capsys.readouterr().err
    assert main(["reembed", "--namespace", "cli", "--model", "no-such-model"]) == 2
    assert "available: all-MiniLM-L6-v2, minilm-static-256" in capsys.readouterr().err

    assert main(["reembed", "--namespace", "cli"]) == 0
    out, err = capsys.readouterr()
    assert "reembed [" in err and "100% 1/1" in err
    assert "done" in out and "'content_changed': 1" in out
    with psycopg.connect(fresh_db) as conn:
        register_vector(conn)
        after = as_array(conn.execute("SELECT embedding FROM chunks WHERE id = %s", (changed[0],)).fetchone()[0])
        assert not np.allclose(after, as_array(changed[1]))
        assert np.allclose(after, embedder.embed(["edited behind the service"])[0], atol=1e-5)
        job = conn.execute("SELECT requested_by, status FROM jobs").fetchall()
    assert job == [("cli", "done")]
def test_probe_command_runs_the_probes_and_prints_a_table(client, tenant, fresh_db: str,
                                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    h = tenant.headers
    for uri, text in (("kb://ferry", "The ferry to the island leaves the harbour at nine."),
                      ("kb://museum", "The tile museum opens at ten and is closed on Mondays.")):
        assert client.put("/documents", json={"source_uri": uri, "text": text}, headers=h).status_code == 200
    for query, expected in (("ferry to the island", ["kb://ferry"]), ("opera house", ["kb://opera"])):
        r = client.post("/probes", json={"query": query, "expected": expected, "k": 2}, headers=h)
        assert r.status_code == 201, r.text
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    assert main(["probe", "--namespace", "alpha"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["probe", "recall", "RR", "freshness", "alert"]
    assert lines[1].split() == ["ferry", "to", "the", "island", "1.00", "1.00", "1.00"]
    assert lines[2].split() == ["opera", "house", "0.00", "0.00", "-", "below", "threshold"]
    assert lines[3].startswith("score 0.50  baseline 0.50 (first_run)") and lines[3].endswith(" done")
    assert lines[4].startswith("ALERT probe_below_threshold: probe 'opera house': recall 0.00 is below 0.50")
    [job] = client.get("/probes/score", headers=h).json()["history"]
    assert job["score"] == 0.5
    assert main(["probe", "--namespace", "nowhere"]) == 2
    assert "no namespace named 'nowhere'" in capsys.readouterr().err
