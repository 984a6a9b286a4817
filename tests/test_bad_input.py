"""Bad input: a 4xx whose message says what to fix, never a 500, and nothing stored changes.

Most checks take a snapshot of every table before the request and compare after it; the
`seed` fixture puts a task, a scratchpad entry, a completed task and a document there first,
so "nothing changed" is measured against real rows, not an empty database.
"""

from __future__ import annotations

from typing import Any

import uuid
from pathlib import Path

import psycopg
import pytest

from bad_input_support import (  # noqa: F401 - the fixtures are used by name
    ADMIN, BODY_CALLS, LIMITS, NUL, Seed, _ids, _seed, by_call, cases_of, client, invalid, limited, refused, seed,
    unchanged,
)


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
    ("POST", "/tasks/{task}/scratchpad", {"kind": "note", "content": "c", "step": True}, "step"),
    ("POST", "/context/assemble", {"query": "q", "budget_tokens": True}, "budget_tokens"),
    ("POST", "/context/assemble", {"query": "q", "budget_tokens": 100, "reserve": {"pinned": False}}, "reserve.pinned"),
    ("POST", "/search", {"query": "q", "k": True}, "k"),
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
    ("POST", "/probes", {"query": "q", "expected": ["u"], "k": True}, "k"),
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


FAR_TIMES = ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00")  # years 10000 and 0 in UTC


def test_a_time_outside_years_1_to_9999_in_utc_is_422(seed: Seed, db: psycopg.Connection[Any]) -> None:
    """PostgreSQL would store it and no read could load it back: every later read of the row was a 500."""
    with unchanged(db):
        for t in FAR_TIMES:
            invalid(seed.send("PUT", "/documents", {"source_uri": "u:far", "text": "t", "source_updated_at": t}),
                    "source_updated_at", "years 1-9999")
            invalid(seed.send("POST", "/admin/namespaces/{ns}/keys", {"label": "l", "expires_at": t}),
                    "expires_at", "years 1-9999")
            invalid(seed.send("POST", "/search", {"query": "q", "filters": {"source_updated_at": {"gte": t}}}),
                    "filters.source_updated_at.gte", "years 1-9999")
            r = seed.send("POST", "/documents/batch",
                          {"documents": [{"source_uri": "u:far", "text": "t", "source_updated_at": t}]})
            assert r.status_code == 200 and r.json()["results"][0]["status"] == "error", r.text
            assert "years 1-9999" in r.json()["results"][0]["error"]
    edge = seed.send("PUT", "/documents", {"source_uri": "u:edge", "text": "t", "source_updated_at": "9999-12-31T23:59:59Z"})
    assert edge.status_code == 200, edge.text
    assert seed.send("GET", f"/documents/{edge.json()['id']}").json()["source_updated_at"].startswith("9999-12-31T23:59:59")


def test_a_string_too_long_is_counted_in_characters(seed: Seed, db: psycopg.Connection[Any]) -> None:
    with unchanged(db):  # Pydantic's own message says "items", as for a list
        invalid(seed.send("POST", "/search", {"query": "q" * 10_001}), "query", "10,001 characters", "at most 10,000")
        invalid(seed.send("PUT", "/documents", {"source_uri": "u" * 2_001, "text": "t"}), "source_uri", "characters")


def test_invisible_characters_only_are_as_empty_as_nothing(seed: Seed, db: psycopg.Connection[Any]) -> None:
    """A citation of "\u200b" is no source: it would hide an unsourced claim from the self-check."""
    with unchanged(db):
        invalid(seed.send("POST", "/tasks/{task}/scratchpad",
                          {"kind": "fact", "content": "The moon is cheese.", "citations": [{"source": "\u200b"}]}),
                "citations.0.source", "invisible")
        invalid(seed.send("POST", "/tasks", {"goal": "\u200b\ufeff \U000e0041"}), "goal", "invisible")
        invalid(seed.send("POST", "/tasks", {"goal": "g", "constraints": ["\u2060"]}), "constraints", "invisible")
    r = seed.send("POST", "/tasks", {"goal": "\u200bvisible"})
    assert r.status_code == 201, r.text


def test_migration_0020_makes_a_far_time_stored_earlier_readable(seed: Seed, db: psycopg.Connection[Any]) -> None:
    for table, key in (("documents", "id"), ("chunks", "document_id")):
        db.execute(f"UPDATE {table} SET source_updated_at = '10000-01-01 00:00:00+00' WHERE {key} = %s", (seed.doc,))
    assert seed.send("GET", f"/documents/{seed.doc}").status_code == 500  # what such a row did
    assert seed.send("POST", "/search", {"query": "First sentence"}).status_code == 500
    db.execute((Path(__file__).resolve().parent.parent / "migrations" / "0020_times_readable.sql").read_text())
    r = seed.send("GET", f"/documents/{seed.doc}")
    assert r.status_code == 200 and r.json()["source_updated_at"].startswith("9999-12-31T23:59:59"), r.text
    assert seed.send("POST", "/search", {"query": "First sentence"}).status_code == 200


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
