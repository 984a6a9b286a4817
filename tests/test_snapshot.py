"""Consistent reads: an answer made of several statements comes from one snapshot, whatever writers do."""

from __future__ import annotations

import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest
from conftest import Tenant, hash_services
from fastapi.testclient import TestClient

from agentmem.core.snapshot import read_snapshot
from agentmem.memory import documents, scratchpad, tasks
from agentmem.memory.namespaces import Principal, create_namespace, issue_key, resolve_key

PARAGRAPHS = 4


def _text(version: int) -> str:
    """Several chunks, each saying which write it came from."""
    return "\n\n".join(f"Version {version} paragraph {p}: " + " ".join(["the harbour ferry timetable"] * 25)
                       for p in range(PARAGRAPHS))


def _versions_in(text: str) -> set[str]:
    return set(re.findall(r"Version (\d+) ", text))


def test_snapshot_hides_a_commit_made_between_its_statements(db: psycopg.Connection[Any], fresh_db: str) -> None:
    db.execute("CREATE TABLE t (v int)")
    db.execute("INSERT INTO t VALUES (1)")
    with psycopg.connect(fresh_db, autocommit=True) as reader:
        with read_snapshot(reader):
            first = reader.execute("SELECT v FROM t").fetchone()
            db.execute("UPDATE t SET v = 2")  # committed by another session
            second = reader.execute("SELECT v FROM t").fetchone()
        assert first == second == (1,)
        assert reader.execute("SELECT v FROM t").fetchone() == (2,)  # and the next read sees it
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), read_snapshot(reader):
            reader.execute("UPDATE t SET v = 3")


class _Interleaved:
    """A connection that runs `between` once, on another session, right after its first statement."""

    def __init__(self, conn: psycopg.Connection[Any], between: Callable[[], None]) -> None:
        self._conn, self._between, self._done = conn, between, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def _after(self) -> None:
        if not self._done:
            self._done = True
            self._between()

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self._conn.execute(*args, **kwargs)
        if not args[0].lstrip().upper().startswith("SET"):
            self._after()
        return result

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        outer, cur = self, self._conn.cursor(*args, **kwargs)

        class _Cursor:
            def __getattr__(self, name: str) -> Any:
                return getattr(cur, name)

            def execute(self, *a: Any, **k: Any) -> Any:
                cur.execute(*a, **k)
                outer._after()
                return self

        return _Cursor()


def _principal(conn: psycopg.Connection[Any]) -> Principal:
    create_namespace(conn, "snap")
    who = resolve_key(conn, issue_key(conn, "snap", "test").key)
    assert who is not None
    return who


def test_a_document_read_is_one_version_even_when_a_write_lands_mid_read(fresh_db: str, tmp_path: Path) -> None:
    with hash_services(fresh_db, tmp_path) as services, services.pool.connection() as conn:
        who = _principal(conn)
        embedders, tokens = services.embedders, services.settings.chunk_tokens
        [first] = documents.upsert_documents(conn, embedders, who, [documents.DocumentInput("kb://d", _text(1))], tokens)

        def write_v2() -> None:
            with services.pool.connection() as other:
                documents.upsert_documents(other, embedders, who, [documents.DocumentInput("kb://d", _text(2))], tokens)

        doc, text, chunks = documents.get_document(_Interleaved(conn, write_v2), who, first.id)  # type: ignore[arg-type]
        assert doc.version == 1 and _versions_in(text) == {"1"}
        assert len(chunks) > 1 and {v for c in chunks for v in _versions_in(c.text)} == {"1"}
        doc, text, chunks = documents.get_document(conn, who, first.id)
        assert doc.version == 2 and {v for c in chunks for v in _versions_in(c.text)} == {"2"}


def test_a_task_listing_is_of_the_task_that_was_found(fresh_db: str, tmp_path: Path) -> None:
    with hash_services(fresh_db, tmp_path) as services, services.pool.connection() as conn:
        who = _principal(conn)
        task = tasks.create_task(conn, who, "goal", [], [])
        tasks.update_task(conn, who, task.id, goal="second goal")
        scratchpad.add_entry(conn, services.embedders, who, task.id, kind="note", content="a note", citations=[])

        def delete() -> None:
            with services.pool.connection() as other:
                tasks.delete_task(other, who, task.id)

        # Found, then deleted by another session: the answer is still the task's, not an empty list.
        assert [v.goal for v in tasks.task_versions(_Interleaved(conn, delete), who, task.id)] == ["goal"]  # type: ignore[arg-type]
        task = tasks.create_task(conn, who, "goal", [], [])
        scratchpad.add_entry(conn, services.embedders, who, task.id, kind="note", content="a note", citations=[])
        entries = scratchpad.list_entries(_Interleaved(conn, delete), who, task.id)  # type: ignore[arg-type]
        assert [e.content for e in entries] == ["a note"]


def test_readers_racing_a_writer_see_each_document_whole(client: TestClient, tenant: Tenant) -> None:
    """Every GET /documents/{id} answer, taken while versions replace each other, is one version whole."""
    r = client.put("/documents", json={"source_uri": "kb://race", "text": _text(1)}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    doc_id, writes = r.json()["id"], 12
    done = threading.Event()
    answers: list[dict[str, Any]] = []
    errors: list[str] = []

    def put(version: int) -> Any:
        return client.put("/documents", json={"source_uri": "kb://race", "text": _text(version)}, headers=tenant.headers)

    def write() -> None:
        try:
            for v in range(2, writes + 2):
                w = put(v)
                while w.status_code == 429:  # the readers spent the namespace's rate: wait, as a client would
                    time.sleep(0.05)
                    w = put(v)
                if w.status_code != 200:
                    errors.append(w.text)
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            g = client.get(f"/documents/{doc_id}", headers=tenant.headers)
            if g.status_code == 429:  # over the namespace's 100 requests/s on a fast machine: not an answer
                time.sleep(0.05)
            elif g.status_code != 200:
                errors.append(g.text)
            else:
                answers.append(g.json())

    threads = [threading.Thread(target=write), *(threading.Thread(target=read) for _ in range(3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    seen = set()
    for a in answers:
        [marker] = _versions_in(a["text"])  # the text is one version's
        chunk_markers = {m for c in a["chunks"] for m in _versions_in(c["text"])}
        assert chunk_markers == {marker}, (a["version"], marker, chunk_markers)
        assert a["version"] == int(marker) and len(a["chunks"]) >= PARAGRAPHS
        seen.add(a["version"])
    assert len(seen) > 2, seen  # the readers really did overlap the writes
    assert uuid.UUID(doc_id)
