"""The probes job: run a namespace's drift probes through `/search`'s own path, score, alert.

Scheduled every `probes_every_seconds` for each namespace that has probes (jobs/kinds.py), and run on demand by
`POST /probes/run` and `agentmem probe` (which queue the same job and run it in the caller). The
job is resumable: probes already run by it are skipped, and the score is recorded with its alerts
in one transaction that a resumed job does not repeat; only pending webhooks are sent again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

from psycopg_pool import ConnectionPool

from agentmem.jobs import alerts, queue
from agentmem.jobs import probe_store as store
from agentmem.jobs.probe_scoring import (
    AlertPolicy, Baseline, ProbeCheck, ProbeOutcome, baseline_for, decide_alerts, namespace_score,
    probe_set_fingerprint, score_probe,
)
from agentmem.jobs.context import JobContext
from agentmem.jobs.queue import Job
from agentmem.jobs.outbound import AllowList
from agentmem.jobs.webhook import post_json
from agentmem.jobs.worker import Progress, run_one
from agentmem.memory.freshness import FreshnessPolicy
from agentmem.memory.freshness_store import freshness_by_source
from agentmem.memory.namespaces import NamespaceSettings, namespace_settings
from agentmem.retrieval.filters import NO_FILTERS
from agentmem.retrieval.search import QueryEmbedder, SearchPlan, Timings, query_embedder, run_search
from agentmem.retrieval.strategies import deep_enough, for_namespace

log = logging.getLogger("agentmem.jobs")


def _query_embedder(ctx: JobContext) -> QueryEmbedder:
    """How /search embeds a query (api/routes/retrieval.py): the namespace's active model."""
    return query_embedder(ctx.embedders, ctx.default_model)


def _model(ctx: JobContext) -> str:
    """The model of a namespace without an active one, as GET /freshness reckons it."""
    return ctx.embedders.default


def run_probe(ctx: JobContext, ns: NamespaceSettings, probe: store.Probe) -> ProbeOutcome:
    """One probe, searched exactly as `POST /search {"query", "k", "strategy"}` would be by this namespace."""
    strategy = deep_enough(for_namespace(ns.retrieval, name=probe.strategy), probe.k)
    freshness = FreshnessPolicy.from_settings(ns.freshness)
    plan = SearchPlan(ns.id, probe.query, strategy, NO_FILTERS, ctx.settings.exact_search_max_chunks, freshness)
    results, _ = run_search(ctx.pool, _query_embedder(ctx), plan, ctx.executor, Timings())
    with ctx.pool.connection() as conn:
        fresh = freshness_by_source(conn, ns.id, probe.expected, freshness, _model(ctx))
    return score_probe(probe.expected, [r.hit.source_uri for r in results[: probe.k]], fresh)


@dataclass(frozen=True)
class Scored:
    score: float | None
    baseline: Baseline | None
    alerts: list[alerts.Alert]  # raised by this job


def _score_and_alert(pool: ConnectionPool, ns: NamespaceSettings, job: Job) -> Scored:
    """Record the namespace score, set the baseline if this is the first run on these probes, and
    decide and record the alerts: all in one transaction, done once per job."""
    policy = AlertPolicy.from_settings(ns.alerting)
    with pool.connection() as conn, conn.transaction():
        runs = store.runs_of_job(conn, ns.id, job.id)
        score = namespace_score([r.recall for r in runs])
        current = store.get_baseline(conn, ns.id, lock=True)  # one baseline decision at a time
        if score is None:
            return Scored(None, current, [])
        probe_set = probe_set_fingerprint(r.probe_id for r in runs)
        if not store.record_score(conn, ns.id, job.id, score, len(runs), probe_set):
            return Scored(score, current, [])  # resumed: this was done before the worker died
        baseline = baseline_for(current, probe_set)
        if baseline is None:
            baseline = Baseline(score=score, set_at=datetime.now(timezone.utc), how="first_run", probes=len(runs),
                                probe_set=probe_set)
            store.set_baseline(conn, ns.id, baseline)
        earlier = store.score_history(conn, ns.id, 1, before_job=job.id)
        previous_score = earlier[0].score if earlier and earlier[0].probe_set == probe_set else None
        previous = store.latest_runs(conn, ns.id, before_job=job.id)
        probes = {p.id: p for p in store.list_probes(conn, ns.id)}
        checks = [
            ProbeCheck(probe_id=r.probe_id, query=probes[r.probe_id].query, recall=r.recall,
                       previous_recall=previous[r.probe_id].recall if r.probe_id in previous else None,
                       missing=r.missing)
            for r in runs if r.probe_id in probes  # a probe deleted since it ran raises no alert
        ]
        decisions = decide_alerts(policy, checks, score, baseline.score, previous_score)
        raised = alerts.record(conn, ns.id, job.id, decisions, webhook=bool(ns.alerting.get("webhook_url")))
    for alert in raised:  # logged once committed, so a log line always has its row
        alerts.log_alert(ns.name, alert)
    return Scored(score, baseline, raised)


def run(ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
    """The `probes` job of `job.namespace_id`: run each probe not yet run by this job, score, alert."""
    assert job.namespace_id is not None
    with ctx.pool.connection() as conn:
        ns = namespace_settings(conn, job.namespace_id)
        probes = store.list_probes(conn, ns.id)
        done = {r.probe_id for r in store.runs_of_job(conn, ns.id, job.id)}
    progress(len(done), len(probes))
    for probe in probes:
        if probe.id in done:
            continue
        outcome = run_probe(ctx, ns, probe)
        with ctx.pool.connection() as conn:
            store.record_run(conn, ns.id, job.id, probe.id, outcome)  # False: deleted meanwhile; skipped
        done.add(probe.id)
        progress(len(done), len(probes))
    scored = _score_and_alert(ctx.pool, ns, job)
    s = ctx.settings
    send = partial(post_json, timeout=s.webhook_timeout_seconds, attempts=s.webhook_attempts,
                   backoff=s.webhook_backoff_seconds, allow=AllowList.parse(s.webhook_allow_hosts))
    delivered = alerts.deliver_pending(ctx.pool, ns.id, ns.name, job.id, ns.alerting.get("webhook_url"), send,
                                       lambda: progress(len(done), len(probes)))
    return {"probes": len(probes), "score": scored.score,
            "baseline": scored.baseline.score if scored.baseline else None,
            "alerts": len(scored.alerts), "webhooks_delivered": delivered}


def run_now(ctx: JobContext, namespace_id: int, requested_by: str) -> tuple[Job, bool]:
    """Queue the namespace's probes job and run it here, unless another worker holds it.
    Returns the job as it stands after, and whether it ran here."""
    with ctx.pool.connection() as conn:
        job, _ = queue.enqueue(conn, "probes", namespace_id, requested_by=requested_by)
    ran_here = run_one(ctx, queue.worker_name(), {"probes": run}, job_id=job.id) is not None
    with ctx.pool.connection() as conn:
        now = queue.get(conn, namespace_id, job.id)
    assert now is not None
    return now, ran_here


@dataclass(frozen=True)
class RunReport:
    """What one job found: per-probe results, the score, the baseline, the alerts it raised."""

    job: Job
    results: list[tuple[store.Probe, store.ProbeRun]]
    score: float | None
    baseline: Baseline | None
    alerts: list[alerts.Alert]


def report(pool: ConnectionPool, namespace_id: int, job: Job) -> RunReport:
    with pool.connection() as conn:
        probes = {p.id: p for p in store.list_probes(conn, namespace_id)}
        runs = store.runs_of_job(conn, namespace_id, job.id)
        scored = store.score_of_job(conn, namespace_id, job.id)
        baseline = store.get_baseline(conn, namespace_id)
        raised = alerts.of_job(conn, namespace_id, job.id)
    return RunReport(job=job, results=[(probes[r.probe_id], r) for r in runs if r.probe_id in probes],
                     score=scored.score if scored else None, baseline=baseline, alerts=raised)


def probe_ids_of(alerts_raised: list[alerts.Alert]) -> set[uuid.UUID]:
    return {a.probe_id for a in alerts_raised if a.probe_id is not None}
