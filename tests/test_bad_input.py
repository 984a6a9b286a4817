"""Bad input: a 4xx whose message says what to fix, never a 500, and nothing stored changes.

Most checks take a snapshot of every table before the request and compare after it; the
`seed` fixture puts a task, a scratchpad entry, a completed task and a document there first,
so "nothing changed" is measured against real rows, not an empty database.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from conftest import ADMIN_TOKEN, Tenant, make_tenant, snapshot
from hash_embedder import HashEmbedder

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LIMITS = {"max_text_chars": 100, "max_scratchpad_chars": 50, "max_batch_documents": 5, "max_body_bytes": 4096}


@dataclass(frozen=True)
class Seed:
    client: TestClient
    tenant: Tenant
    task: str  # open
    done: str  # completed
    doc: str

    def send(self, method: str, path: str, body: Any = None, *, content: bytes | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        """Send as the tenant (as the operator for /admin); `content` is sent raw, as JSON."""
        path = path.format(task=self.task, done=self.done, doc=self.doc, ns=self.tenant.name)
        auth = ADMIN if path.startswith("/admin") else self.tenant.headers
        if content is not None:
            headers = {"content-type": "application/json", **(headers or {})}
        return self.client.request(method, path, json=body, content=content, headers={**auth, **(headers or {})})


def _seed(client: TestClient) -> Seed:
    t = make_tenant(client, "alpha")
    task = client.post("/tasks", json={"goal": "the goal", "pinned": [{"label": "l", "text": "p"}]},
                       headers=t.headers).json()["id"]
    r = client.post(f"/tasks/{task}/scratchpad", json={"kind": "note", "content": "a note"}, headers=t.headers)
    assert r.status_code == 201, r.text
    done = client.post("/tasks", json={"goal": "finished"}, headers=t.headers).json()["id"]
    assert client.post(f"/tasks/{done}/complete", json={"summary": "all done"}, headers=t.headers).status_code == 200
    doc = client.put("/documents", json={"source_uri": "doc:1", "text": "First sentence. " * 6,
                                         "metadata": {"k": "v"}}, headers=t.headers).json()["id"]
    return Seed(client, t, task, done, doc)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """Refusals are about input, not meaning: the hash embedder keeps each test's set-up fast."""
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def seed(client: TestClient) -> Seed:
    return _seed(client)


@pytest.fixture
def limited(fresh_db: str, tmp_path: Path) -> Iterator[Seed]:
    """A seeded app with small limits (and small chunks, so short documents have several)."""
    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN,
                        chunk_tokens=16, scheduler=False, **LIMITS)
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as client:
        yield _seed(client)


@contextmanager
def unchanged(db: psycopg.Connection[Any]) -> Iterator[None]:
    before = snapshot(db)
    yield
    assert snapshot(db) == before


def refused(r: httpx.Response, status: int, code: str, *says: str) -> str:
    """Assert the error answer and that its message holds each of `says`; return the message."""
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code, error
    for part in says:
        assert part in error["message"], (part, error["message"])
    return str(error["message"])


def invalid(r: httpx.Response, field: str, *says: str) -> None:
    """422 invalid_input that names `field` (a dotted path) in its message and in its fields list."""
    message = refused(r, 422, "invalid_input", *says)
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), (field, fields)
    assert field in message


BODY_CALLS = [
    ("POST", "/tasks"),
    ("PATCH", "/tasks/{task}"),
    ("POST", "/tasks/{task}/scratchpad"),
    ("POST", "/tasks/{task}/complete"),
    ("PUT", "/documents"),
    ("POST", "/documents/batch"),
    ("POST", "/memories"),
    ("POST", "/admin/namespaces"),
    ("POST", "/admin/namespaces/{ns}/keys"),
    ("POST", "/probes"),
    ("PUT", "/settings/alerting"),
]


def _ids(cases: list[tuple[Any, ...]]) -> list[str]:
    return [f"{c[0]} {c[1]}" for c in cases]


def by_call(cases: list[tuple[Any, ...]]) -> Any:
    """Parametrize over the endpoints `cases` touch (one database each); the test loops over their cases."""
    calls = list(dict.fromkeys((c[0], c[1]) for c in cases))
    return pytest.mark.parametrize("call", calls, ids=_ids(calls))


def cases_of(cases: list[tuple[Any, ...]], call: tuple[str, str]) -> list[tuple[Any, ...]]:
    return [c for c in cases if (c[0], c[1]) == call]


# --- bodies that are not a JSON object ----------------------------------------------------------

UNREADABLE = [
    (b'{"goal": ', "not valid JSON"),
    (b"{'goal': 'x'}", "not valid JSON"),
    (b'{"goal": "x",}', "not valid JSON"),
    (b'{"goal": "x"} and more', "not valid JSON"),
    (b'{"goal": "\xff"}', "not valid UTF-8"),
]  # (bodies nested too deeply: 422 before parsing, tests/test_limits.py)
NOT_AN_OBJECT = [b"[]", b'"a goal"', b"5", b"null", b""]


@pytest.mark.parametrize("method, path", BODY_CALLS, ids=_ids(BODY_CALLS))
def test_body_that_is_not_a_json_object(method: str, path: str, seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for content, says in UNREADABLE:
            refused(seed.send(method, path, content=content), 400, "invalid_json", says)
        for content in NOT_AN_OBJECT:
            invalid(seed.send(method, path, content=content), "body", "JSON object")
        r = seed.send(method, path, content=b'{"goal": "x"}', headers={"content-type": "text/plain"})
        invalid(r, "body", "Content-Type: application/json")


# --- wrong types, unknown fields, missing fields ------------------------------------------------

WRONG_TYPES = [
    ("POST", "/tasks", {"goal": 5}, "goal"),
    ("POST", "/tasks", {"goal": "g", "constraints": "be brief"}, "constraints"),
    ("POST", "/tasks", {"goal": "g", "constraints": [1]}, "constraints.0"),
    ("POST", "/tasks", {"goal": "g", "pinned": {"label": "l", "text": "t"}}, "pinned"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": 1, "text": "t"}]}, "pinned.0.label"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": "l" * 201, "text": "t"}]}, "pinned.0.label"),
    ("PATCH", "/tasks/{task}", {"goal": ["g"]}, "goal"),
    ("PATCH", "/tasks/{task}", {"pinned": "p"}, "pinned"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "opinion", "content": "c"}, "kind"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": {"a": 1}}, "content"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "step": "first"}, "step"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "step": 1.5}, "step"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "fact", "content": "c", "citations": "a book"}, "citations"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "fact", "content": "c", "citations": ["a book"]}, "citations.0"),
    ("POST", "/tasks/{task}/scratchpad",
     {"kind": "fact", "content": "c", "citations": [{"source": "s", "retrieved_at": "yesterday"}]},
     "citations.0.retrieved_at"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "unsourced": "maybe"}, "unsourced"),
    ("POST", "/tasks/{task}/complete", {"summary": 5}, "summary"),
    ("POST", "/tasks/{task}/complete", {"outcome": "o" * 10_001}, "outcome"),
    ("PUT", "/documents", {"source_uri": "u", "text": "t", "metadata": ["a"]}, "metadata"),
    ("PUT", "/documents", {"source_uri": "u", "text": "t", "title": 5}, "title"),
    ("PUT", "/documents", {"source_uri": "u", "text": "t", "source_updated_at": "soon"}, "source_updated_at"),
    ("PUT", "/documents", {"source_uri": ["u"], "text": "t"}, "source_uri"),
    ("POST", "/documents/batch", {"documents": {"source_uri": "u", "text": "t"}}, "documents"),
    ("POST", "/memories", {"kind": "opinion", "text": "t"}, "kind"),
    ("POST", "/memories", {"kind": "fact", "text": 1.5}, "text"),
    ("POST", "/admin/namespaces", {"name": 5}, "name"),
    ("POST", "/admin/namespaces", {"name": "has spaces"}, "name"),
    ("POST", "/admin/namespaces", {"name": "n" * 101}, "name"),
    ("POST", "/admin/namespaces/{ns}/keys", {"label": ["l"]}, "label"),
    ("POST", "/probes", {"query": "q", "expected": ["u"], "k": "ten"}, "k"),
    ("POST", "/probes", {"query": "q", "expected": [5]}, "expected.0"),
    ("POST", "/probes", {"query": "q", "expected": {"u": 1}}, "expected"),
    ("PUT", "/settings/alerting", {"probe_below": "high"}, "probe_below"),
    ("PUT", "/settings/alerting", {"webhook_url": ["http://x"]}, "webhook_url"),
]


@by_call(WRONG_TYPES)
def test_wrong_type_is_422_naming_the_field(call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for method, path, body, field in cases_of(WRONG_TYPES, call):
            invalid(seed.send(method, path, body), field)


def test_wrong_query_parameter_type(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        invalid(seed.send("GET", "/tasks/{task}/scratchpad?unsourced=maybe"), "query.unsourced", "boolean")


UNKNOWN_FIELDS = [
    ("POST", "/tasks", {"goal": "g", "priority": 1}, "priority"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": "l", "text": "t", "colour": "red"}]}, "pinned.0.colour"),
    ("PATCH", "/tasks/{task}", {"goal": "g", "status": "completed"}, "status"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "tags": []}, "tags"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "fact", "content": "c", "citations": [{"source": "s", "url": "u"}]},
     "citations.0.url"),
    ("POST", "/tasks/{task}/complete", {"summary": "s", "status": "done"}, "status"),
    ("PUT", "/documents", {"source_uri": "u", "text": "t", "kind": "summary"}, "kind"),
    ("POST", "/documents/batch", {"documents": [], "atomic": True}, "atomic"),
    ("POST", "/memories", {"kind": "fact", "text": "t", "task_id": str(uuid.uuid4())}, "task_id"),
    ("POST", "/admin/namespaces", {"name": "n", "quota": 5}, "quota"),
    ("POST", "/admin/namespaces/{ns}/keys", {"label": "l", "admin": True}, "admin"),
    ("POST", "/probes", {"query": "q", "expected": ["u"], "filters": {}}, "filters"),
    ("PUT", "/settings/alerting", {"email": "ops@example.com"}, "email"),
]


@by_call(UNKNOWN_FIELDS)
def test_unknown_field_is_422_naming_it(call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for method, path, body, field in cases_of(UNKNOWN_FIELDS, call):
            invalid(seed.send(method, path, body), field, "unknown field; remove it")


MISSING = [
    ("POST", "/tasks", {"constraints": ["c"]}, "goal"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": "l"}]}, "pinned.0.text"),
    ("POST", "/tasks/{task}/scratchpad", {"content": "c"}, "kind"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note"}, "content"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "fact", "content": "c", "citations": [{"locator": "p. 3"}]},
     "citations.0.source"),
    ("PUT", "/documents", {"text": "t"}, "source_uri"),
    ("PUT", "/documents", {"source_uri": "u"}, "text"),
    ("POST", "/documents/batch", {}, "documents"),
    ("POST", "/memories", {"text": "t"}, "kind"),
    ("POST", "/memories", {"kind": "fact"}, "text"),
    ("POST", "/admin/namespaces", {}, "name"),
    ("POST", "/admin/namespaces/{ns}/keys", {}, "label"),
    ("POST", "/probes", {"query": "q"}, "expected"),
    ("POST", "/probes", {"expected": ["u"]}, "query"),
]


@by_call(MISSING)
def test_missing_field_is_422_naming_it(call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for method, path, body, field in cases_of(MISSING, call):
            invalid(seed.send(method, path, body), field, "required field is missing")


# --- empty and whitespace-only text -------------------------------------------------------------

BLANKS = ["", " ", " \n\t "]
BLANK_FIELDS = [
    ("POST", "/tasks", lambda b: {"goal": b}, "goal"),
    ("POST", "/tasks", lambda b: {"goal": "g", "constraints": ["ok", b]}, "constraints"),
    ("POST", "/tasks", lambda b: {"goal": "g", "pinned": [{"label": b, "text": "t"}]}, "pinned.0.label"),
    ("POST", "/tasks", lambda b: {"goal": "g", "pinned": [{"label": "l", "text": b}]}, "pinned.0.text"),
    ("PATCH", "/tasks/{task}", lambda b: {"goal": b}, "goal"),
    ("PATCH", "/tasks/{task}", lambda b: {"constraints": [b]}, "constraints"),
    ("PATCH", "/tasks/{task}", lambda b: {"pinned": [{"label": "l", "text": b}]}, "pinned.0.text"),
    ("POST", "/tasks/{task}/scratchpad", lambda b: {"kind": "note", "content": b}, "content"),
    ("POST", "/tasks/{task}/scratchpad", lambda b: {"kind": "note", "content": "c", "summary": b}, "summary"),
    ("POST", "/tasks/{task}/scratchpad", lambda b: {"kind": "fact", "content": "c", "citations": [{"source": b}]},
     "citations.0.source"),
    ("POST", "/tasks/{task}/complete", lambda b: {"summary": b}, "summary"),
    ("PUT", "/documents", lambda b: {"source_uri": b, "text": "t"}, "source_uri"),
    ("PUT", "/documents", lambda b: {"source_uri": "doc:1", "text": b}, "text"),
    ("POST", "/memories", lambda b: {"kind": "fact", "text": b}, "text"),
    ("POST", "/admin/namespaces/{ns}/keys", lambda b: {"label": b}, "label"),
    ("POST", "/probes", lambda b: {"query": b, "expected": ["u"]}, "query"),
    ("POST", "/probes", lambda b: {"query": "q", "expected": ["u", b]}, "expected.1"),
]


@by_call(BLANK_FIELDS)
def test_empty_or_whitespace_text_is_422(call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):
        for method, path, make, field in cases_of(BLANK_FIELDS, call):
            for blank in BLANKS:
                r = seed.send(method, path, make(blank))
                invalid(r, field)
                message = r.json()["error"]["message"]
                assert "empty" in message or "at least 1 character" in message, message


# --- what PostgreSQL cannot store: refused, never stripped --------------------------------------

NUL = "\x00"
NUL_FIELDS = [
    ("POST", "/tasks", {"goal": f"a{NUL}b"}, "body.goal"),
    ("POST", "/tasks", {"goal": "g", "constraints": ["ok", f"b{NUL}"]}, "body.constraints[1]"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": f"l{NUL}", "text": "t"}]}, "body.pinned[0].label"),
    ("POST", "/tasks", {"goal": "g", "pinned": [{"label": "l", "text": f"{NUL}t"}]}, "body.pinned[0].text"),
    ("PATCH", "/tasks/{task}", {"goal": f"new{NUL}"}, "body.goal"),
    ("PATCH", "/tasks/{task}", {"pinned": [{"label": "l", "text": NUL}]}, "body.pinned[0].text"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": f"c{NUL}"}, "body.content"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "summary": f"s{NUL}"}, "body.summary"),
    ("POST", "/tasks/{task}/scratchpad", {"kind": "fact", "content": "c", "citations": [{"source": f"s{NUL}"}]},
     "body.citations[0].source"),
    ("POST", "/tasks/{task}/scratchpad",
     {"kind": "fact", "content": "c", "citations": [{"source": "s"}, {"source": "s", "locator": f"p{NUL}"}]},
     "body.citations[1].locator"),
    ("POST", "/tasks/{task}/scratchpad",
     {"kind": "fact", "content": "c", "citations": [{"source": "s", "quote": f"q{NUL}"}]}, "body.citations[0].quote"),
    ("POST", "/tasks/{task}/complete", {"summary": f"s{NUL}"}, "body.summary"),
    ("POST", "/tasks/{task}/complete", {"outcome": f"o{NUL}"}, "body.outcome"),
    ("PUT", "/documents", {"source_uri": f"u{NUL}", "text": "t"}, "body.source_uri"),
    ("PUT", "/documents", {"source_uri": "doc:1", "text": f"new{NUL}text"}, "body.text"),
    ("PUT", "/documents", {"source_uri": "doc:1", "text": "t", "title": f"T{NUL}"}, "body.title"),
    ("PUT", "/documents", {"source_uri": "doc:1", "text": "t", "metadata": {f"k{NUL}": 1}}, "body.metadata.'k\\x00'"),
    ("PUT", "/documents", {"source_uri": "doc:1", "text": "t", "metadata": {"k": {"deep": ["x", f"y{NUL}"]}}},
     "body.metadata.k.deep[1]"),
    ("POST", "/memories", {"kind": "fact", "text": f"t{NUL}"}, "body.text"),
    ("POST", "/memories", {"kind": "fact", "text": "t", "source": f"s{NUL}"}, "body.source"),
    ("POST", "/admin/namespaces", {"name": f"n{NUL}"}, "body.name"),
    ("POST", "/admin/namespaces/{ns}/keys", {"label": f"l{NUL}"}, "body.label"),
    ("POST", "/probes", {"query": f"q{NUL}", "expected": ["u"]}, "body.query"),
    ("POST", "/probes", {"query": "q", "expected": ["u", f"v{NUL}"]}, "body.expected[1]"),
    ("PUT", "/settings/alerting", {"webhook_url": f"http://example.com/{NUL}"}, "body.webhook_url"),
]


@by_call(NUL_FIELDS)
def test_nul_character_is_refused_naming_the_field(
    call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]
) -> None:
    with unchanged(db):
        for method, path, body, where in cases_of(NUL_FIELDS, call):
            refused(seed.send(method, path, body), 422, "invalid_input", where, "NUL character", "remove it")


# Python's JSON parser takes these; PostgreSQL cannot store them (jsonb has no NaN, text no lone surrogate).
UNSTORABLE_RAW = [
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "t", "metadata": {"score": NaN}}', "body.metadata.score"),
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "t", "metadata": {"s": [-Infinity]}}', "body.metadata.s[0]"),
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "t", "metadata": {"s": 1e400}}', "body.metadata.s"),
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "t", "metadata": {"s": "\\ud800"}}', "body.metadata.s"),
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "t", "metadata": {"\\udfff": 1}}', "body.metadata."),
    ("PUT", "/documents", '{"source_uri": "doc:1", "text": "bad \\ud83d text"}', "body.text"),
    ("POST", "/tasks", '{"goal": "\\ud800"}', "body.goal"),
    ("POST", "/tasks/{task}/scratchpad", '{"kind": "fact", "content": "c", "citations": [{"source": "\\udc00"}]}',
     "body.citations[0].source"),
    ("POST", "/documents/batch", '{"documents": [], "\\ud800": 1}', "body."),
]


@by_call(UNSTORABLE_RAW)
def test_values_json_allows_but_postgres_cannot_store_are_422(
    call: tuple[str, str], seed: Seed, db: psycopg.Connection[Any]
) -> None:
    with unchanged(db):
        for method, path, raw, where in cases_of(UNSTORABLE_RAW, call):
            message = refused(seed.send(method, path, content=raw.encode()), 422, "invalid_input", where)
            assert "finite number" in message or "unpaired surrogate" in message, message


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
            refused(limited.send(method, path, body), 413, "payload_too_large", "the limit is", "split it")


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
                "batch", "the limit is 5")
    r = limited.send("POST", "/documents/batch", {"documents": docs[:5]})
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["created"] * 5


def test_body_above_max_body_bytes_is_413(limited: Seed, db: psycopg.Connection[Any]) -> None:
    big = json.dumps({"source_uri": "doc:big", "text": "t" * 5000}).encode()

    def chunked(data: bytes) -> Iterator[bytes]:
        for i in range(0, len(data), 1000):
            yield data[i : i + 1000]

    with unchanged(db):
        # With a Content-Length, refused before reading; without (chunked), refused while reading.
        refused(limited.send("PUT", "/documents", content=big), 413, "payload_too_large", "over 4,096 bytes")
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
    assert "101 characters; the limit is 100" in results[0]["error"]
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
