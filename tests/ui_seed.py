"""Rows for the operator page's tests, written straight into the tables (their own code lives elsewhere)."""

from __future__ import annotations

import uuid
from typing import Any, Sequence

import psycopg


def namespace_id(db: psycopg.Connection[Any], name: str) -> int:
    row = db.execute("SELECT id FROM namespaces WHERE name = %s", [name]).fetchone()
    assert row is not None, name
    return int(row[0])


def age(db: psycopg.Connection[Any], ns: int, source_uri: str, days: float) -> None:
    """Make a document look last verified `days` ago."""
    n = db.execute("UPDATE documents SET last_verified_at = now() - make_interval(secs => %s)"
                   " WHERE namespace_id = %s AND source_uri = %s", (days * 86400, ns, source_uri)).rowcount
    assert n == 1, source_uri


def add_probe(db: psycopg.Connection[Any], ns: int, query: str, recalls: Sequence[float], k: int = 5,
              expected: Sequence[str] = ("kb://expected",)) -> uuid.UUID:
    """A probe and one run per recall value, a day apart, the last one now (given oldest first)."""
    row = db.execute("INSERT INTO probes (namespace_id, query, expected, k) VALUES (%s, %s, %s, %s) RETURNING id",
                     (ns, query, list(expected), k)).fetchone()
    assert row is not None
    for i, recall in enumerate(recalls):
        db.execute(
            "INSERT INTO probe_runs (probe_id, namespace_id, ran_at, recall, reciprocal_rank, found, missing)"
            " VALUES (%s, %s, now() - make_interval(days => %s), %s, %s, '{}', '{}')",
            (row[0], ns, len(recalls) - 1 - i, recall, recall),
        )
    return row[0]  # type: ignore[no-any-return]


def add_scores(db: psycopg.Connection[Any], ns: int, scores: Sequence[float], probes: int = 2) -> None:
    for i, score in enumerate(scores):
        db.execute("INSERT INTO probe_scores (namespace_id, ran_at, score, probes)"
                   " VALUES (%s, now() - make_interval(days => %s), %s, %s)", (ns, len(scores) - 1 - i, score, probes))


def add_alert(db: psycopg.Connection[Any], ns: int, message: str, probe: uuid.UUID | None = None,
              kind: str = "probe_below_threshold") -> None:
    db.execute("INSERT INTO alerts (namespace_id, probe_id, kind, message) VALUES (%s, %s, %s, %s)",
               (ns, probe, kind, message))
