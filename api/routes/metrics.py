"""`GET /metrics` for Prometheus, behind the admin token like the other operator endpoints."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from agentmem.api.metrics import CONTENT_TYPE, collect, render
from agentmem.api.deps import AdminDep, ConnDep, ServicesDep

router = APIRouter(tags=["ops"], dependencies=[AdminDep])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(conn: ConnDep, services: ServicesDep) -> PlainTextResponse:
    """Probe scores and baselines, alerts, stale documents: per namespace, from the database."""
    return PlainTextResponse(render(collect(conn, services.embedders.default)), media_type=CONTENT_TYPE)
