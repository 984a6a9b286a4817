"""Bad input, continued: configured limits (413), ids, sourcing, state conflicts, batches, failed writes."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.api.app import create_app
from agentmem.core.settings import Settings
from conftest import ADMIN_TOKEN
from hash_embedder import HashEmbedder

from bad_input_support import (  # noqa: F401 - the fixtures are used by name
    ADMIN, BODY_CALLS, LIMITS, NUL, Seed, _ids, _seed, by_call, cases_of, client, invalid, limited, refused, seed,
    unchanged,
)


# --- configured limits: 413 ---------------------------------------------------------------------

OVER_LIMIT = [  # LIMITS: 100 characters of text, 50 of scratchpad
    ("POST", "/tasks", {"goal": "g" * 101}),
    ("POST", "/tasks", {"goal": "g" * 40, "constraints": ["c" * 30], "pinned": [{"label": "l", "text": "p" * 31}]}),
    ("PATCH", "/tasks/{task}", {"goal": "g" * 101}),
    ("PATCH", "/tasks/{task}", {"constraints": ["c" * 99]}),  # with the current goal, over 100
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c" * 51}),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "summary": "s" * 51}),
    ("POST", "/tasks/{task}/complete", {"summary": "s" * 101}),
    ("PUT", "/documents", {"source_uri": "doc:1", "text": "t" * 101}),
    ("POST", "/memories", {"kind": "fact", "text": "t" * 101}),
]


@by_call(OVER_LIMIT)
def test_text_above_the_limit_is_413(call: tuple[str, str], limited: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for method, path, body in cases_of(OVER_LIMIT, call):
            setting = "AGENTMEM_MAX_SCRATCHPAD_CHARS" if path.endswith("/scratchpad") else "AGENTMEM_MAX_TEXT_CHARS"
            refused(limited.send(method, path, body), 413, "payload_too_large", "the limit is", "split it", setting)


def test_text_at_the_limit_is_accepted(limited: Seed) -> None:
    assert limited.send("POST", "/tasks", {"goal": "g" * 60, "constraints": ["c" * 40]}).status_code == 201
    assert limited.send("PATCH", "/tasks/{task}", {"goal": "g" * 99}).status_code == 200  # + pinned "p"
    assert limited.send("POST", "/tasks/{task}/scratchpad",
                        {"kind": "note", "content": "c" * 50, "summary": "s" * 50}).status_code == 201
    assert limited.send("PUT", "/documents", {"source_uri": "doc:2", "text": "t " * 50}).status_code == 200
    assert limited.send("POST", "/memories", {"kind": "fact", "text": "t" * 100}).status_code == 201
    assert limited.send("POST", "/tasks/{task}/complete", {"summary": "s" * 100}).status_code == 200


def test_batch_above_max_documents_is_413_and_writes_none(limited: Seed, db: psycopg.Connection[Any]) -> None:
    docs = [{"source_uri": f"b:{i}", "text": f"text {i}"} for i in range(6)]
    with unchanged(db):
        refused(limited.send("POST", "/documents/batch", {"documents": docs}), 413, "payload_too_large",
                "batch", "the limit is 5", "AGENTMEM_MAX_BATCH_DOCUMENTS")
    r = limited.send("POST", "/documents/batch", {"documents": docs[:5]})
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["created"] * 5


def test_body_above_max_body_bytes_is_413(limited: Seed, db: psycopg.Connection[Any]) -> None:
    big = json.dumps({"source_uri": "doc:big", "text": "t" * 5000}).encode()

    def chunked(data: bytes) -> Iterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    with unchanged(db):
        # With a Content-Length, refused before reading; without (chunked), refused while reading.
        refused(limited.send("PUT", "/documents", content=big), 413, "payload_too_large", "over 4,096 bytes",
                "AGENTMEM_MAX_BODY_BYTES")
        r = limited.client.put("/documents", content=chunked(big),
                               headers={**limited.tenant.headers, "content-type": "application/json"})
        refused(r, 413, "payload_too_large", "over 4,096 bytes")
    small = json.dumps({"source_uri": "doc:small", "text": "fits"}).encode()
    r = limited.client.put("/documents", content=chunked(small),
                           headers={**limited.tenant.headers, "content-type": "application/json"})
    assert r.status_code == 200, r.text


# --- ids ----------------------------------------------------------------------------------------

BY_ID = [
    ("GET", "/tasks/{id}", None),
    ("PATCH", "/tasks/{id}", {"goal": "g"}),
    ("DELETE", "/tasks/{id}", None),
    ("GET", "/tasks/{id}/versions", None),
    ("POST", "/tasks/{id}/scratchpad", {"kind": "note", "content": "c"}),
    ("GET", "/tasks/{id}/scratchpad", None),
    ("POST", "/tasks/{id}/complete", {"summary": "s"}),
    ("GET", "/documents/{id}", None),
    ("DELETE", "/documents/{id}", None),
    ("GET", "/probes/{id}", None),
    ("GET", "/probes/{id}/runs", None),
    ("DELETE", "/probes/{id}", None),
]
ID_PARAM = {"tasks": ("path.task_id", "task"), "documents": ("path.doc_id", "document"),
            "probes": ("path.probe_id", "probe")}


@pytest.mark.parametrize("method, path, body", BY_ID, ids=_ids(BY_ID))
def test_ids_that_are_not_uuids_are_422_and_unknown_ones_404(
    method: str, path: str, body: dict[str, Any] | None, seed: Seed, db: psycopg.Connection[Any]
) -> None:
    param, what = ID_PARAM[path.split("/")[1]]
    with unchanged(db):
        for bad in ("not-a-uuid", "123", "0000000-0000-0000-0000-000000000000g", seed.task + "0"):
            invalid(seed.send(method, path.replace("{id}", bad), body), param, "UUID")
        missing = str(uuid.uuid4())
        refused(seed.send(method, path.replace("{id}", missing), body), 404, "not_found",
                f"no {what} with id {missing}")


# --- scratchpad sourcing ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fact", "result"])
def test_claim_without_citation_needs_unsourced(kind: str, seed: Seed, db: psycopg.Connection[Any]) -> None:
    url = "/tasks/{task}/scratchpad"
    with unchanged(db):
        for body in ({"kind": kind, "content": "c"}, {"kind": kind, "content": "c", "citations": []},
                     {"kind": kind, "content": "c", "unsourced": False}):
            refused(seed.send("POST", url, body), 422, "invalid_input", "citation", "'unsourced': true")
        refused(seed.send("POST", url, {"kind": kind, "content": "c", "unsourced": True,
                                        "citations": [{"source": "s"}]}),
                422, "invalid_input", "contradicts", "drop one")
    r = seed.send("POST", url, {"kind": kind, "content": "a hunch", "unsourced": True})
    assert r.status_code == 201 and r.json()["unsourced"] is True
    r = seed.send("POST", url, {"kind": kind, "content": "cited", "citations": [{"source": "s"}]})
    assert r.status_code == 201 and r.json()["unsourced"] is False
    listed = seed.send("GET", url + "?unsourced=true").json()
    assert [e["content"] for e in listed] == ["a hunch"]


# --- state: nothing to change, already completed, duplicates ------------------------------------

def test_patch_with_nothing_to_change_is_422(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for body in ({}, {"goal": None}, {"goal": None, "constraints": None, "pinned": None}):
            refused(seed.send("PATCH", "/tasks/{task}", body), 422, "invalid_input",
                    "nothing to change", "goal, constraints, pinned")
    assert seed.send("GET", "/tasks/{task}/versions").json() == []


def test_completing_a_completed_task_is_409(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for body in ({}, {"summary": "again"}, {"outcome": "twice"}):
            refused(seed.send("POST", "/tasks/{done}/complete", body), 409, "conflict", "already completed")
    assert db.execute("SELECT text, version FROM documents WHERE task_id = %s", [seed.done]).fetchall() == [
        ("all done", 1)
    ]


def test_scratchpad_of_a_completed_task_is_closed(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        refused(seed.send("POST", "/tasks/{done}/scratchpad", {"kind": "note", "content": "late"}),
                409, "conflict", "completed", "closed")


def test_namespace_conflicts(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        refused(seed.send("POST", "/admin/namespaces", {"name": "alpha"}), 409, "conflict", "'alpha' already exists")
        refused(seed.send("POST", "/admin/namespaces/nowhere/keys", {"label": "l"}), 404, "not_found",
                "no namespace named 'nowhere'")
        refused(seed.send("DELETE", "/admin/namespaces/nowhere"), 404, "not_found", "no namespace named 'nowhere'")


# --- step ---------------------------------------------------------------------------------------

def test_step_must_fit_a_postgres_integer(seed: Seed, db: psycopg.Connection[Any]) -> None:
    url = "/tasks/{task}/scratchpad"
    with unchanged(db):
        for step in (-1, 2**31, 2**63, 10**30):
            invalid(seed.send("POST", url, {"kind": "note", "content": "c", "step": step}), "step")
    r = seed.send("POST", url, {"kind": "note", "content": "c", "step": 2**31 - 1})
    assert r.status_code == 201 and r.json()["step"] == 2**31 - 1


# --- a bad item inside a batch fails alone ------------------------------------------------------

def test_bad_batch_items_fail_alone(limited: Seed, db: psycopg.Connection[Any]) -> None:
    raw = (
        '{"documents": ['
        '{"source_uri": "b:good", "text": "a good one"},'
        '{"source_uri": "b:no-text"},'
        '{"source_uri": "b:nul", "text": "x\\u0000y"},'
        '"just a string",'
        '{"source_uri": "b:nan", "text": "t", "metadata": {"score": NaN}}'
        "]}"
    )
    r = limited.send("POST", "/documents/batch", content=raw.encode())
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3, 4]
    assert [x["status"] for x in results] == ["created", "error", "error", "error", "error"]
    assert [x["source_uri"] for x in results] == ["b:good", "b:no-text", "b:nul", None, "b:nan"]
    errors = [x["error"] for x in results[1:]]
    assert "text: required field is missing" in errors[0]
    assert "body.text contains a NUL character" in errors[1]
    assert "must be a JSON object" in errors[2]
    assert "body.metadata.score" in errors[3] and "finite number" in errors[3]
    assert all(x["id"] is None for x in results[1:])
    more = [{"source_uri": "b:long", "text": "t" * 101}, {"source_uri": "b:blank", "text": "  "},
            {"source_uri": "b:other", "text": "another good one"}]
    results = limited.send("POST", "/documents/batch", {"documents": more}).json()["results"]
    assert [x["status"] for x in results] == ["error", "error", "created"]
    assert "101 characters; the limit is 100 (AGENTMEM_MAX_TEXT_CHARS)" in results[0]["error"]
    assert "text" in results[1]["error"] and "empty" in results[1]["error"]
    uris = db.execute("SELECT source_uri FROM documents WHERE source_uri LIKE 'b:%' ORDER BY 1").fetchall()
    assert uris == [("b:good",), ("b:other",)]


# --- a failed write leaves the previous version whole -------------------------------------------

def _doc_state(db: psycopg.Connection[Any], doc: str) -> tuple[Any, ...]:
    row = db.execute("SELECT text, version, content_hash, metadata FROM documents WHERE id = %s", [doc]).fetchone()
    chunks = db.execute("SELECT ord, text, embedding::text FROM chunks WHERE document_id = %s ORDER BY ord",
                        [doc]).fetchall()
    return row, chunks


def test_failed_rewrite_keeps_the_old_version(limited: Seed, db: psycopg.Connection[Any]) -> None:
    uri = "doc:1"
    old = _doc_state(db, limited.doc)
    assert len(old[1]) > 1  # several chunks to lose
    bad: list[tuple[dict[str, Any] | bytes, int]] = [
        ({"source_uri": uri, "text": " \n "}, 422),
        ({"source_uri": uri, "text": f"new{NUL}text"}, 422),
        ({"source_uri": uri, "text": "new text", "metadata": {f"k{NUL}": "v"}}, 422),
        (b'{"source_uri": "doc:1", "text": "new text", "metadata": {"k": NaN}}', 422),
        (b'{"source_uri": "doc:1", "text": "new \\ud800 text"}', 422),
        ({"source_uri": uri, "text": "new text", "title": ["t"]}, 422),
        ({"source_uri": uri, "text": "new text", "source_updated_at": "not a date"}, 422),
        ({"source_uri": uri, "text": "new text", "extra": 1}, 422),
        ({"source_uri": uri, "text": "n" * 101}, 413),
    ]
    with unchanged(db):
        for body, status in bad:
            if isinstance(body, bytes):
                r = limited.send("PUT", "/documents", content=body)
            else:
                r = limited.send("PUT", "/documents", body)
            assert r.status_code == status, (body, r.text)
        r = limited.send("POST", "/documents/batch", {"documents": [{"source_uri": uri, "text": f"x{NUL}"}]})
        assert r.json()["results"][0]["status"] == "error"
    assert _doc_state(db, limited.doc) == old
    got = limited.send("GET", "/documents/{doc}").json()
    assert got["text"] == old[0][0] and got["version"] == 1 and len(got["chunks"]) == len(old[1])


class _FailsOn:
    """The real embedder, except that texts holding `marker` get vectors of the wrong dimension."""

    def __init__(self, inner: Any, marker: str) -> None:
        self.inner, self.marker = inner, marker
        self.name, self.version, self.dimension = inner.name, inner.version, inner.dimension

    def embed(self, texts: Any) -> Any:
        vectors = self.inner.embed(texts)
        if any(self.marker in t for t in texts):
            return vectors[:, :3]
        return vectors


def test_write_failing_midway_keeps_the_old_version(
    fresh_db: str, tmp_path: Path, db: psycopg.Connection[Any]
) -> None:
    """The chunks are replaced inside one transaction: a failure after the old ones are deleted undoes it."""
    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, chunk_tokens=16,
                        scheduler=False)
    with TestClient(create_app(settings, embedder=_FailsOn(HashEmbedder(), "BREAK")),
                    raise_server_exceptions=False) as client:
        seed = _seed(client)
        old = _doc_state(db, seed.doc)
        with unchanged(db):
            r = seed.send("PUT", "/documents", {"source_uri": "doc:1", "text": "BREAK the document. " * 10})
            refused(r, 500, "internal")
        assert _doc_state(db, seed.doc) == old
