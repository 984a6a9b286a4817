"""The operator's page: sign in with a namespace key, see that namespace's freshness, model and probes.

The key is kept in a cookie (HttpOnly, SameSite=Strict, Secure over https, sent to /ui only) and
resolved on every request like a bearer key, so a revoked key or a deleted namespace signs the page
out at once, and the service stays stateless. The page never shows the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import psycopg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agentmem.api.deps import ConnDep, ServicesDep
from agentmem.api.ui.chart import line_chart
from agentmem.api.ui.render import HEADERS, render, score, when
from agentmem.api.ui.sources import model_status
from agentmem.jobs import alerts
from agentmem.jobs import probe_store as store
from agentmem.memory.freshness import FreshnessPolicy
from agentmem.memory.freshness_store import namespace_freshness
from agentmem.memory.namespaces import Principal, resolve_key

router = APIRouter(prefix="/ui", include_in_schema=False)

COOKIE = "agentmem_ui_key"
COOKIE_MAX_AGE = 12 * 3600
STALEST = 10
RUNS_PER_PROBE = 50
ALERTS = 10


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _sign_in_form(error: str | None = None, status: int = 200) -> HTMLResponse:
    return _html(render("sign_in.html", error=error), status)


@dataclass(frozen=True)
class Form:
    key: str | None
    error: str | None  # why the body could not be read as the form
    status: int = 200


async def read_form(request: Request) -> Form:
    """The sign-in form, urlencoded as browsers send it (no multipart parser needed for one field)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return Form(None, "Send the sign-in form as application/x-www-form-urlencoded (the form on this page does).",
                    415)
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return Form(None, "The form could not be read: it is not valid UTF-8.", 400)
    values = fields.get("key", [])
    return Form(values[0].strip() if values else None, None)


FormDep = Annotated[Form, Depends(read_form)]


@router.post("/sign-in")
def sign_in(form: FormDep, request: Request, conn: ConnDep) -> Response:
    if form.error:
        return _sign_in_form(form.error, form.status)
    if not form.key:
        return _sign_in_form("Enter a key of your namespace.", 422)
    if resolve_key(conn, form.key) is None:
        return _sign_in_form("That is not a key of any namespace. Check it, or ask your operator for one.", 401)
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(COOKIE, form.key, max_age=COOKIE_MAX_AGE, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/sign-out")
def sign_out(request: Request) -> Response:
    response = RedirectResponse("/ui", status_code=303)
    _forget(response, request)
    return response


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


@router.get("")
def page(request: Request, conn: ConnDep, services: ServicesDep) -> Response:
    key = request.cookies.get(COOKIE)
    if not key:
        return _sign_in_form()
    who = resolve_key(conn, key)
    if who is None:
        response = _sign_in_form("Your key is no longer valid (revoked, or its namespace was deleted); sign in again.",
                                 401)
        _forget(response, request)
        return response
    return _html(render("page.html", **page_context(conn, who, services.embedders.default)))


def _database_now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def page_context(conn: psycopg.Connection[Any], who: Principal, model: str) -> dict[str, Any]:
    """Everything the page shows, for the principal's namespace only."""
    policy = FreshnessPolicy.from_settings(who.freshness)
    probes = store.probe_histories(conn, who.namespace_id, RUNS_PER_PROBE)
    scores = store.score_trend(conn, who.namespace_id, RUNS_PER_PROBE)
    return {
        "namespace": who.namespace,
        "now": _database_now(conn),  # the clock last_verified_at was written with
        "freshness": namespace_freshness(conn, who.namespace_id, policy, model, STALEST),
        "model": model_status(conn, who.namespace_id, model),
        "probes": [
            (p, line_chart([r.recall for r in p.runs], [f"{when(r.ran_at)}: recall {score(r.recall)}" for r in p.runs]))
            for p in probes
        ],
        "score_chart": line_chart(
            [s.score for s in scores], [f"{when(s.ran_at)}: score {score(s.score)} over {s.probes} probes" for s in scores]
        ) if scores else None,
        "alerts": alerts.recent_lines(conn, who.namespace_id, ALERTS),
    }
