"""Alerts raised by probe runs: stored, logged as one JSON line, counted, and sent to the webhook.

Every alert is a row in `alerts` (what `GET /alerts` lists and `agentmem_alerts_total` counts, so the
metric is right however many processes run jobs), one JSON line on the `agentmem.alerts` logger,
and, when the namespace configured a `webhook_url`, one POST (jobs/webhook.py) whose outcome is
stored on the alert: null (no webhook), `pending`, `delivered`, or `failed: <reason>`.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from agentmem.jobs.probe_scoring import AlertDecision
from agentmem.jobs.webhook import Delivery

log = logging.getLogger("agentmem.alerts")

KINDS = ("probe_below_threshold", "score_dropped")
PENDING = "pending"


@dataclass(frozen=True)
class Alert:
    id: uuid.UUID
    kind: str
    probe_id: uuid.UUID | None
    job_id: uuid.UUID | None
    message: str
    details: dict[str, Any]
    webhook: str | None
    webhook_attempts: int
    created_at: datetime


_COLUMNS = "id, kind, probe_id, job_id, message, details, webhook, webhook_attempts, created_at"


def record(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID, decisions: Sequence[AlertDecision],
           webhook: bool) -> list[Alert]:
    """Store a run's alerts (inside the caller's transaction), marked pending when a webhook is set."""
    cur = conn.cursor(row_factory=class_row(Alert))
    out = []
    for d in decisions:
        row = cur.execute(
            f"INSERT INTO alerts (namespace_id, probe_id, job_id, kind, message, details, webhook)"
            f" VALUES (%(ns)s, %(probe)s, %(job)s, %(kind)s, %(msg)s, %(details)s, %(webhook)s) RETURNING {_COLUMNS}",
            {"ns": namespace_id, "probe": d.probe_id, "job": job_id, "kind": d.kind, "msg": d.message,
             "details": Jsonb(d.details), "webhook": PENDING if webhook else None},
        ).fetchone()
        assert row is not None
        out.append(row)
    return out


def as_event(namespace: str, alert: Alert) -> dict[str, Any]:
    """The alert as logged and as POSTed to the webhook."""
    return {"event": "agentmem.alert", "id": str(alert.id), "namespace": namespace, "kind": alert.kind,
            "probe_id": str(alert.probe_id) if alert.probe_id else None, "message": alert.message,
            "details": alert.details, "job_id": str(alert.job_id) if alert.job_id else None,
            "created_at": alert.created_at.isoformat()}


def log_alert(namespace: str, alert: Alert) -> None:
    log.warning(json.dumps(as_event(namespace, alert), default=str))


def of_job(conn: psycopg.Connection[Any], namespace_id: int, job_id: uuid.UUID) -> list[Alert]:
    return conn.cursor(row_factory=class_row(Alert)).execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE namespace_id = %(ns)s AND job_id = %(job)s ORDER BY created_at, id",
        {"ns": namespace_id, "job": job_id},
    ).fetchall()


def recent(conn: psycopg.Connection[Any], namespace_id: int, limit: int, kind: str | None = None) -> list[Alert]:
    """The namespace's alerts, newest first."""
    return conn.cursor(row_factory=class_row(Alert)).execute(
        f"SELECT {_COLUMNS} FROM alerts WHERE namespace_id = %(ns)s AND (%(kind)s::text IS NULL OR kind = %(kind)s)"
        f" ORDER BY created_at DESC, id DESC LIMIT %(n)s",
        {"ns": namespace_id, "kind": kind, "n": limit},
    ).fetchall()


def deliver_pending(pool: Any, namespace_id: int, namespace: str, job_id: uuid.UUID, url: str | None,
                    send: Callable[[str, dict[str, Any]], Delivery], beat: Callable[[], None]) -> int:
    """Send the job's pending alerts to the webhook and record each outcome. Returns how many were
    delivered. `beat` runs after each alert, so a slow receiver does not cost the job its lease; a
    receiver that does not answer one alert (every attempt timed out or failed to connect) is not sent
    the run's others, so a dead receiver costs a run one alert's attempts, not one per alert."""
    with pool.connection() as conn:
        pending = [a for a in of_job(conn, namespace_id, job_id) if a.webhook == PENDING]
    delivered = 0
    down: Delivery | None = None  # once a receiver did not answer, the run's later alerts are not sent
    for alert in pending:
        if down is not None:
            outcome = Delivery.failed(0, "not sent: the receiver did not answer an earlier alert of this run")
        elif url:
            outcome = send(url, as_event(namespace, alert))
            down = outcome if outcome.unanswered else None
        else:
            outcome = Delivery.failed(0, "no webhook_url configured")
        with pool.connection() as conn:
            conn.execute("UPDATE alerts SET webhook = %(s)s, webhook_attempts = webhook_attempts + %(n)s"
                         " WHERE id = %(id)s", {"s": outcome.status, "n": outcome.attempts, "id": alert.id})
        if not outcome.delivered:
            log.warning("webhook for alert %s of namespace %s: %s", alert.id, namespace, outcome.status)
        delivered += outcome.delivered
        beat()
    return delivered


@dataclass(frozen=True)
class AlertCount:
    namespace: str
    kind: str
    alerts: int
    webhook_failures: int


def counts(conn: psycopg.Connection[Any]) -> list[AlertCount]:
    """Alerts per namespace and kind (0 for a namespace with probes but no alert of a kind yet)."""
    return conn.cursor(row_factory=class_row(AlertCount)).execute(
        "SELECT n.name AS namespace, k.kind, count(a.id)::int AS alerts,"
        " (count(a.id) FILTER (WHERE a.webhook LIKE 'failed%%'))::int AS webhook_failures"
        " FROM namespaces n CROSS JOIN unnest(%(kinds)s::text[]) AS k(kind)"
        " LEFT JOIN alerts a ON a.namespace_id = n.id AND a.kind = k.kind"
        " WHERE EXISTS (SELECT 1 FROM probes p WHERE p.namespace_id = n.id)"
        "   OR EXISTS (SELECT 1 FROM alerts x WHERE x.namespace_id = n.id)"
        " GROUP BY n.name, k.kind ORDER BY n.name, k.kind",
        {"kinds": list(KINDS)},
    ).fetchall()


@dataclass(frozen=True)
class AlertLine:
    """An alert as the operator's page lists it: with the query of the probe it is about."""

    created_at: datetime
    kind: str
    message: str
    probe_query: str | None


def recent_lines(conn: psycopg.Connection[Any], namespace_id: int, limit: int = 10) -> list[AlertLine]:
    """The namespace's latest alerts, newest first (a deleted probe's alerts have no query)."""
    with conn.cursor(row_factory=class_row(AlertLine)) as cur:
        return cur.execute(
            "SELECT a.created_at, a.kind, a.message, p.query AS probe_query FROM alerts a"
            " LEFT JOIN probes p ON p.id = a.probe_id AND p.namespace_id = a.namespace_id"
            " WHERE a.namespace_id = %(ns)s ORDER BY a.created_at DESC, a.id DESC LIMIT %(n)s",
            {"ns": namespace_id, "n": limit},
        ).fetchall()
