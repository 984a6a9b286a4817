"""`GET /metrics` for Prometheus, behind the admin token like the other operator endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from psycopg_pool import PoolTimeout

from agentmem.api.deps import AdminDep, ServicesDep
from agentmem.api.metrics import CONTENT_TYPE, collect, render

router = APIRouter(tags=["ops"], dependencies=[AdminDep])


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request, services: ServicesDep) -> PlainTextResponse:
    """Probe scores and baselines, alerts, stale documents per namespace (from the database), then this
    process's requests, refusals, pool and queues (api/process_metrics.py). When no connection comes
    free, the process's numbers are still answered: they are what an operator needs then."""
    try:
        with services.pool.connection() as conn:
            stored = render(collect(conn, services.embedders.default))
    except PoolTimeout:
        stored = "# database metrics left out: no connection came free (see agentmem_db_pool_*)\n"
    return PlainTextResponse(stored + request.app.state.metrics.render(), media_type=CONTENT_TYPE)
