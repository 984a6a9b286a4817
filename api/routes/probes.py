"""Drift probes, the namespace's retrieval-quality score and baseline, its alerts and alert settings."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from agentmem.core.errors import Conflict, InvalidInput
from agentmem.api.routes.jobs import job_out
from agentmem.memory.namespaces import Principal
from agentmem.api.deps import ConnDep, ReadDep, ServicesDep, require_role
from agentmem.api.schemas.probes import (
    AlertingIn, AlertingOut, AlertOut, BaselineIn, BaselineOut, ProbeIn, ProbeOut, ProbeResultOut, ProbeRunOut,
    ProbesRunOut, QualityOut, ScorePointOut,
)
from agentmem.api.schemas.admin import Receipt
from agentmem.jobs import alerts
from agentmem.jobs.outbound import AllowList, DestinationRefused, check_configured
from agentmem.jobs import probe_store as store
from agentmem.jobs import probes as probes_job
from agentmem.jobs.probe_scoring import AlertPolicy, Baseline, probe_set_fingerprint
from agentmem.memory.namespaces import namespace_settings, set_alerting_settings

router = APIRouter(tags=["probes"])

ProbeAdderDep = Annotated[Principal, Depends(require_role("operator", "adding a probe"))]
ProbeRunnerDep = Annotated[Principal, Depends(require_role("operator", "running the probes"))]
BaselineSetterDep = Annotated[Principal, Depends(require_role("operator", "setting the probe baseline"))]
ProbeDeleterDep = Annotated[Principal, Depends(require_role("operator", "deleting a probe"))]
AlertingReaderDep = Annotated[
    Principal, Depends(require_role("operator", "reading the alerting settings (they hold the webhook URL)"))
]
AlertingEditorDep = Annotated[Principal, Depends(require_role("operator", "changing the alerting settings"))]


def _baseline(b: Baseline | None) -> BaselineOut | None:
    return BaselineOut(score=b.score, set_at=b.set_at, how=b.how, probes=b.probes) if b else None  # type: ignore[arg-type]


def _alert(a: alerts.Alert) -> AlertOut:
    return AlertOut(**asdict(a))


def _probe(p: store.Probe, latest: store.ProbeRun | None) -> ProbeOut:
    return ProbeOut(**asdict(p), latest_run=ProbeRunOut(**asdict(latest)) if latest else None)


def _alerting(stored: dict[str, Any], baseline: Baseline | None) -> AlertingOut:
    policy = AlertPolicy.from_settings(stored)
    return AlertingOut(probe_below=policy.probe_below, score_drop=policy.score_drop,
                       webhook_url=stored.get("webhook_url"), baseline=_baseline(baseline))


# Fixed paths first: /probes/{probe_id} would otherwise take "run", "score" and "baseline" for ids.

@router.post("/probes", status_code=201, response_model=ProbeOut)
def create_probe(body: ProbeIn, conn: ConnDep, who: ProbeAdderDep, services: ServicesDep) -> ProbeOut:
    """Adding a probe changes what the score measures: the next run starts a new baseline."""
    probe = store.create_probe(conn, who.namespace_id, body.query, body.expected, body.k, body.strategy,
                               max_probes=services.settings.max_probes_per_namespace)
    return _probe(probe, None)


@router.get("/probes", response_model=list[ProbeOut])
def list_probes(conn: ConnDep, who: ReadDep) -> list[ProbeOut]:
    latest = store.latest_runs(conn, who.namespace_id)
    return [_probe(p, latest.get(p.id)) for p in store.list_probes(conn, who.namespace_id)]


@router.post("/probes/run", response_model=ProbesRunOut, responses={202: {"description": "another worker holds the job"}})
def run_probes(who: ProbeRunnerDep, services: ServicesDep, response: Response) -> ProbesRunOut:
    """Run the namespace's probes now, through the job queue; 202 if another worker is running them.
    No ConnDep: the job takes its own connections, and a request holds one at a time."""
    with services.pool.connection() as conn:
        probes = store.list_probes(conn, who.namespace_id)
    if not probes:
        raise Conflict("this namespace has no probes to run; add one with POST /probes")
    job, ran_here = probes_job.run_now(services.jobs, who.namespace_id, requested_by="api")
    if not ran_here:
        response.status_code = 202
    rep = probes_job.report(services.pool, who.namespace_id, job)
    flagged = probes_job.probe_ids_of(rep.alerts)
    return ProbesRunOut(
        job=job_out(job), ran_here=ran_here, score=rep.score, baseline=_baseline(rep.baseline),
        results=[ProbeResultOut(**asdict(run), query=p.query, alert=p.id in flagged) for p, run in rep.results],
        alerts=[_alert(a) for a in rep.alerts],
    )


@router.get("/probes/score", response_model=QualityOut)
def get_quality(conn: ConnDep, who: ReadDep, limit: int = Query(default=20, ge=1, le=1000)) -> QualityOut:
    """The latest score (mean recall@k over the probes), its baseline, history and recent alerts."""
    ns = namespace_settings(conn, who.namespace_id)
    history = store.score_history(conn, who.namespace_id, limit)
    baseline = Baseline.from_stored(ns.alerting.get("baseline"))
    latest = history[0] if history else None
    drop = None
    if latest is not None and baseline is not None and latest.probe_set == baseline.probe_set:
        drop = baseline.score - latest.score
    return QualityOut(
        score=latest.score if latest else None, probes=len(store.list_probes(conn, who.namespace_id)),
        ran_at=latest.ran_at if latest else None, baseline=_baseline(baseline), drop=drop,
        history=[ScorePointOut(score=h.score, probes=h.probes, ran_at=h.ran_at, job_id=h.job_id) for h in history],
        alerts=[_alert(a) for a in alerts.recent(conn, who.namespace_id, 20)],
        settings=_alerting(ns.alerting, baseline),
    )


@router.post("/probes/baseline", response_model=BaselineOut)
def set_baseline(conn: ConnDep, who: BaselineSetterDep, body: BaselineIn | None = None) -> BaselineOut:
    """Compare later runs with this score: the one given, or else the latest."""
    current = store.list_probes(conn, who.namespace_id)
    if not current:
        raise Conflict("this namespace has no probes; add some with POST /probes before setting a baseline")
    baseline = store.set_baseline_by_hand(conn, who.namespace_id, probe_set_fingerprint(p.id for p in current),
                                          len(current), body.score if body else None)
    out = _baseline(baseline)
    assert out is not None
    return out


@router.get("/probes/{probe_id}", response_model=ProbeOut)
def get_probe(probe_id: uuid.UUID, conn: ConnDep, who: ReadDep) -> ProbeOut:
    probe = store.get_probe(conn, who.namespace_id, probe_id)
    runs = store.runs_of_probe(conn, who.namespace_id, probe_id, 1)
    return _probe(probe, runs[0] if runs else None)


@router.get("/probes/{probe_id}/runs", response_model=list[ProbeRunOut])
def get_probe_runs(probe_id: uuid.UUID, conn: ConnDep, who: ReadDep,
                   limit: int = Query(default=20, ge=1, le=1000)) -> list[ProbeRunOut]:
    """The probe's history, newest first."""
    return [ProbeRunOut(**asdict(r)) for r in store.runs_of_probe(conn, who.namespace_id, probe_id, limit)]


@router.delete("/probes/{probe_id}", response_model=Receipt)
def delete_probe(probe_id: uuid.UUID, conn: ConnDep, who: ProbeDeleterDep) -> Receipt:
    """Removes the probe and its runs; its alerts stay. The next run starts a new baseline."""
    return Receipt(id=str(probe_id), deleted=store.delete_probe(conn, who.namespace_id, probe_id))


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(conn: ConnDep, who: ReadDep, limit: int = Query(default=50, ge=1, le=1000),
                kind: Literal["probe_below_threshold", "score_dropped"] | None = None) -> list[AlertOut]:
    """The namespace's alerts, newest first."""
    return [_alert(a) for a in alerts.recent(conn, who.namespace_id, limit, kind)]


@router.get("/settings/alerting", response_model=AlertingOut)
def get_alerting(conn: ConnDep, who: AlertingReaderDep) -> AlertingOut:
    ns = namespace_settings(conn, who.namespace_id)
    return _alerting(ns.alerting, Baseline.from_stored(ns.alerting.get("baseline")))


@router.put("/settings/alerting", response_model=AlertingOut)
def put_alerting(body: AlertingIn, who: AlertingEditorDep, services: ServicesDep) -> AlertingOut:
    """A webhook must point at a public address (or one the service's operator allows): the service's own
    network makes the request. Its name is resolved before a connection is taken (DNS may be slow)."""
    if body.webhook_url is not None:
        try:
            check_configured(body.webhook_url, AllowList.parse(services.settings.webhook_allow_hosts))
        except DestinationRefused as refused:
            raise InvalidInput(f"webhook_url: {refused.reason}; use a public receiver, or ask the service's"
                               " operator to allow it (AGENTMEM_WEBHOOK_ALLOW_HOSTS)") from None
    with services.pool.connection() as conn:
        stored = set_alerting_settings(conn, who.namespace_id, body.model_dump(exclude_none=True))
    return _alerting(stored, Baseline.from_stored(stored.get("baseline")))
