"""The drift probes' tables: probes, their runs, the namespace scores, and the score's baseline.

Every function takes the caller's namespace id and never reaches another namespace's rows: another
namespace's probe is indistinguishable from a missing one. Scoring is in jobs/probe_scoring.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.core.errors import Conflict, InvalidInput, NotFound
from agentmem.jobs.probe_scoring import Baseline, ProbeOutcome


@dataclass(frozen=True)
class Probe:
    id: uuid.UUID
    query: str
    expected: list[str]
    k: int
    strategy: str | None
    created_at: datetime


@dataclass(frozen=True)
class ProbeRun:
    probe_id: uuid.UUID
    job_id: uuid.UUID | None
    ran_at: datetime
    recall: float
    reciprocal_rank: float
    expected_freshness: float | None
    found: list[str]
    missing: list[str]


@dataclass(frozen=True)
class ScorePoint:
    """The namespace's score after one run of its probes."""

    job_id: uuid.UUID | None
    ran_at: datetime
    score: float
    probes: int
    probe_set: str | None


_PROBE = "id, query, expected, k, strategy, created_at"
_RUN = "probe_id, job_id, ran_at, recall, reciprocal_rank, expected_freshness, found, missing"
_SCORE = "job_id, ran_at, score, probes, probe_set"


def create_probe(conn: psycopg.Connection[Any], namespace_id: int, query: str, expected: Sequence[str], k: int,
                 strategy: str | None, *, max_probes: int | None = None) -> Probe:
    """A new probe; refused when the namespace already has `max_probes` (each one costs a search per run)."""
    with conn.transaction():
        if max_probes is not None:
            # Counted under a per-namespace lock: two concurrent creations cannot both take the last place.
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('agentmem.probes', %(ns)s))",
                         {"ns": namespace_id})
            row = conn.execute("SELECT count(*) FROM probes WHERE namespace_id = %(ns)s", {"ns": namespace_id}).fetchone()
            if row is not None and row[0] >= max_probes:
                raise InvalidInput(f"this namespace has {row[0]:,} probes; the limit is {max_probes:,}"
                                   f" (AGENTMEM_MAX_PROBES_PER_NAMESPACE): delete some with DELETE /probes/{{id}}"
                                   f" before adding more")
        row = conn.cursor(row_factory=class_row(Probe)).execute(
            f"INSERT INTO probes (namespace_id, query, expected, k, strategy)"
            f" VALUES (%(ns)s, %(q)s, %(expected)s, %(k)s, %(strategy)s) RETURNING {_PROBE}",
            {"ns": namespace_id, "q": query, "expected": list(expected), "k": k, "strategy": strategy},
        ).fetchone()
    assert row is not None
    return row


def list_probes(conn: psycopg.Connection[Any], namespace_id: int) -> list[Probe]:
    return conn.cursor(row_factory=class_row(Probe)).execute(
        f"SELECT {_PROBE} FROM probes WHERE namespace_id = %(ns)s ORDER BY created_at, id", {"ns": namespace_id}
    ).fetchall()


def get_probe(conn: psycopg.Connection[Any], namespace_id: int, probe_id: uuid.UUID) -> Probe:
    row = conn.cursor(row_factory=class_row(Probe)).execute(
        f"SELECT {_PROBE} FROM probes WHERE id = %(id)s AND namespace_id = %(ns)s", {"id": probe_id, "ns": namespace_id}
    ).fetchone()
    if row is None:
        raise NotFound(f"no probe with id {probe_id} in this namespace")
    return row


def delete_probe(conn: psycopg.Connection[Any], namespace_id: int, probe_id: uuid.UUID) -> dict[str, int]:
    """Remove the probe and its run history; its alerts stay (their probe_id becomes null)."""
    with conn.transaction():
        get_probe(conn, namespace_id, probe_id)
        runs = conn.execute("SELECT count(*) FROM probe_runs WHERE probe_id = %(id)s", {"id": probe_id}).fetchone()
        conn.execute("DELETE FROM probes WHERE id = %(id)s AND namespace_id = %(ns)s",
                     {"id": probe_id, "ns": namespace_id})
    return {"probes": 1, "probe_runs": int(runs[0]) if runs else 0}


def namespaces_with_probes(conn: psycopg.Connection[Any]) -> list[int]:
    """The namespaces a scheduled probes run has something to do for."""
    return [r[0] for r in conn.execute("SELECT DISTINCT namespace_id FROM probes ORDER BY 1").fetchall()]


# --- runs --------------------------------------------------------------------------------------

def record_run(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID, probe_id: uuid.UUID,
               outcome: ProbeOutcome) -> bool:
    """Store one probe's run in a job, once. False if the probe was deleted meanwhile."""
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO probe_runs (probe_id, namespace_id, job_id, recall, reciprocal_rank, expected_freshness,"
                " found, missing) VALUES (%(probe)s, %(ns)s, %(job)s, %(recall)s, %(rr)s, %(fresh)s, %(found)s,"
                " %(missing)s) ON CONFLICT (job_id, probe_id) DO NOTHING",
                {"probe": probe_id, "ns": namespace_id, "job": job_id, "recall": outcome.recall,
                 "rr": outcome.reciprocal_rank, "fresh": outcome.expected_freshness, "found": outcome.found,
                 "missing": outcome.missing},
            )
    except psycopg.errors.ForeignKeyViolation:
        return False
    return True


def runs_of_job(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID) -> list[ProbeRun]:
    """The runs a job recorded, in the order of the probes' creation."""
    return conn.cursor(row_factory=class_row(ProbeRun)).execute(
        f"SELECT {', '.join('r.' + c for c in _RUN.split(', '))} FROM probe_runs r JOIN probes p ON p.id = r.probe_id"
        f" WHERE r.namespace_id = %(ns)s AND r.job_id = %(job)s ORDER BY p.created_at, p.id",
        {"ns": namespace_id, "job": job_id},
    ).fetchall()


def runs_of_probe(conn: psycopg.Connection[Any], namespace_id: int, probe_id: uuid.UUID,
                  limit: int) -> list[ProbeRun]:
    """A probe's history, newest first."""
    get_probe(conn, namespace_id, probe_id)
    return conn.cursor(row_factory=class_row(ProbeRun)).execute(
        f"SELECT {_RUN} FROM probe_runs WHERE probe_id = %(id)s AND namespace_id = %(ns)s"
        f" ORDER BY ran_at DESC, id DESC LIMIT %(n)s",
        {"id": probe_id, "ns": namespace_id, "n": limit},
    ).fetchall()


def latest_runs(conn: psycopg.Connection[Any], namespace_id: int,
                before_job: uuid.UUID | None = None) -> dict[uuid.UUID, ProbeRun]:
    """Each probe's latest run; with `before_job`, the latest one not made by that job."""
    rows = conn.cursor(row_factory=class_row(ProbeRun)).execute(
        f"SELECT DISTINCT ON (probe_id) {_RUN} FROM probe_runs WHERE namespace_id = %(ns)s"
        f" AND (%(job)s::uuid IS NULL OR job_id IS DISTINCT FROM %(job)s::uuid)"
        f" ORDER BY probe_id, ran_at DESC, id DESC",
        {"ns": namespace_id, "job": before_job},
    ).fetchall()
    return {r.probe_id: r for r in rows}


# --- the namespace score and its baseline ------------------------------------------------------

def record_score(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID, score: float, probes: int,
                 probe_set: str) -> bool:
    """Store a job's namespace score, once (call inside the transaction that records its alerts).
    False if the job had already recorded it: the job is being resumed past that point."""
    row = conn.execute(
        "INSERT INTO probe_scores (namespace_id, job_id, score, probes, probe_set)"
        " VALUES (%(ns)s, %(job)s, %(score)s, %(n)s, %(set)s) ON CONFLICT (job_id) DO NOTHING RETURNING id",
        {"ns": namespace_id, "job": job_id, "score": score, "n": probes, "set": probe_set},
    ).fetchone()
    return row is not None


def score_of_job(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID) -> ScorePoint | None:
    return conn.cursor(row_factory=class_row(ScorePoint)).execute(
        f"SELECT {_SCORE} FROM probe_scores WHERE namespace_id = %(ns)s AND job_id = %(job)s",
        {"ns": namespace_id, "job": job_id},
    ).fetchone()


def score_history(conn: psycopg.Connection[Any], namespace_id: int, limit: int,
                  before_job: uuid.UUID | None = None) -> list[ScorePoint]:
    """The namespace's scores, newest first; with `before_job`, leaving that job's out."""
    return conn.cursor(row_factory=class_row(ScorePoint)).execute(
        f"SELECT {_SCORE} FROM probe_scores WHERE namespace_id = %(ns)s"
        f" AND (%(job)s::uuid IS NULL OR job_id IS DISTINCT FROM %(job)s::uuid)"
        f" ORDER BY ran_at DESC, id DESC LIMIT %(n)s",
        {"ns": namespace_id, "n": limit, "job": before_job},
    ).fetchall()


def get_baseline(conn: psycopg.Connection[Any], namespace_id: int, *, lock: bool = False) -> Baseline | None:
    """The stored baseline; `lock` holds the namespace row until the caller's transaction ends."""
    row = conn.execute("SELECT alerting -> 'baseline' FROM namespaces WHERE id = %(ns)s"
                       + (" FOR UPDATE" if lock else ""), {"ns": namespace_id}).fetchone()
    return Baseline.from_stored(row[0]) if row else None


def set_baseline(conn: psycopg.Connection[Any], namespace_id: int, baseline: Baseline) -> None:
    conn.execute("UPDATE namespaces SET alerting = jsonb_set(alerting, '{baseline}', %(b)s) WHERE id = %(ns)s",
                 {"b": Jsonb(baseline.to_stored()), "ns": namespace_id})


def set_baseline_by_hand(conn: psycopg.Connection[Any], namespace_id: int, probe_set: str, probes: int,
                         score: float | None) -> Baseline:
    """POST /probes/baseline: the given score, or else the latest one, for the current set of probes."""
    with conn.transaction():
        if score is None:
            latest = score_history(conn, namespace_id, 1)
            if not latest:
                raise Conflict("there is no score yet to take as the baseline; run the probes first"
                               " (POST /probes/run), or give one: {\"score\": 0.8}")
            if latest[0].probe_set != probe_set:
                raise Conflict("the probes changed since the latest score, so it measured other probes; run them"
                               " again (POST /probes/run), or give the baseline: {\"score\": 0.8}")
            score = latest[0].score
        baseline = Baseline(score=score, set_at=datetime.now(timezone.utc), how="set", probes=probes,
                            probe_set=probe_set)
        set_baseline(conn, namespace_id, baseline)
    return baseline


# --- what /metrics reports ---------------------------------------------------------------------

@dataclass(frozen=True)
class NamespaceQuality:
    namespace: str
    probes: int
    score: float | None  # the latest score
    baseline: float | None


def quality_by_namespace(conn: psycopg.Connection[Any]) -> list[NamespaceQuality]:
    """Every namespace that has probes or scores: how many probes, its latest score and its baseline."""
    return conn.cursor(row_factory=class_row(NamespaceQuality)).execute(
        "SELECT n.name AS namespace, (SELECT count(*) FROM probes p WHERE p.namespace_id = n.id)::int AS probes,"
        " (SELECT s.score FROM probe_scores s WHERE s.namespace_id = n.id ORDER BY s.ran_at DESC, s.id DESC LIMIT 1)"
        "   ::float8 AS score,"
        " (n.alerting -> 'baseline' ->> 'score')::float8 AS baseline"
        " FROM namespaces n WHERE EXISTS (SELECT 1 FROM probes p WHERE p.namespace_id = n.id)"
        "   OR EXISTS (SELECT 1 FROM probe_scores s WHERE s.namespace_id = n.id)"
        " ORDER BY n.name"
    ).fetchall()


# --- what the operator's page charts -----------------------------------------------------------

def score_trend(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 50) -> list[ScorePoint]:
    """The namespace's latest `limit` scores, oldest first (a chart's order)."""
    return score_history(conn, namespace_id, limit)[::-1]


@dataclass(frozen=True)
class RecallPoint:
    ran_at: datetime
    recall: float


@dataclass(frozen=True)
class ProbeHistory:
    id: uuid.UUID
    query: str
    k: int
    expected: list[str]
    runs: list[RecallPoint]  # oldest first: the latest `limit` runs


def probe_histories(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 50) -> list[ProbeHistory]:
    """Each probe of the namespace (oldest first) with the recall of its latest `limit` runs."""
    probes = list_probes(conn, namespace_id)
    runs: dict[uuid.UUID, list[RecallPoint]] = {p.id: [] for p in probes}
    for probe_id, ran_at, recall in conn.execute(
        "SELECT probe_id, ran_at, recall FROM (SELECT probe_id, ran_at, recall, id,"
        "  row_number() OVER (PARTITION BY probe_id ORDER BY ran_at DESC, id DESC) AS age"
        "  FROM probe_runs WHERE namespace_id = %(ns)s) r"
        " WHERE age <= %(n)s ORDER BY probe_id, ran_at, id",
        {"ns": namespace_id, "n": limit},
    ).fetchall():
        if probe_id in runs:
            runs[probe_id].append(RecallPoint(ran_at, float(recall)))
    return [ProbeHistory(id=p.id, query=p.query, k=p.k, expected=list(p.expected), runs=runs[p.id]) for p in probes]
