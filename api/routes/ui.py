"""The operator's page: sign in with a namespace key, see that namespace's freshness, model and probes.

Signing in starts a server-side session (memory/sessions.py); the cookie holds its random id, never
the key (HttpOnly, SameSite=Strict, Secure over https, sent to /ui only). The session is looked up on
every view, so signing out, revoking the key or deleting the namespace ends it at once. Login CSRF: the
form carries a token that must match a cookie only this site can set (double submit), and a browser's
cross-site or same-site (sibling subdomain) post is refused by its Sec-Fetch-Site header. Keys of every
role may sign in: the page only reads. The page never shows the key.
"""

from __future__ import annotations

import hmac
import secrets
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
from agentmem.memory.sessions import end_session, session_principal, start_session

router = APIRouter(prefix="/ui", include_in_schema=False)

COOKIE = "agentmem_ui_session"
CSRF_COOKIE = "agentmem_ui_csrf"
COOKIE_MAX_AGE = 12 * 3600
FORM_MAX_BYTES = 128 * 1024  # a key and a token are ~100 bytes: anything past this is not read, nor parsed
STALEST = 10
RUNS_PER_PROBE = 50
ALERTS = 10


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, max_age=COOKIE_MAX_AGE, path="/ui", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def _sign_in_form(request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
    """The form, with the browser's sign-in token (a new one, set as a cookie, when it has none)."""
    known = request.cookies.get(CSRF_COOKIE)
    token = known or secrets.token_urlsafe(32)
    response = _html(render("sign_in.html", error=error, csrf=token), status)
    if not known:
        _set_cookie(response, request, CSRF_COOKIE, token)
    return response


@dataclass(frozen=True)
class Form:
    key: str | None
    error: str | None  # why the body could not be read as the form
    status: int = 200
    csrf: str = ""


async def read_form(request: Request) -> Form:
    """The sign-in form, urlencoded as browsers send it (no multipart parser needed for two fields)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return Form(None, "Send the sign-in form as application/x-www-form-urlencoded (the form on this page does).",
                    415)
    body = bytearray()
    async for part in request.stream():  # read up to the bound only: no key needed to post here
        body += part
        if len(body) > FORM_MAX_BYTES:
            return Form(None, f"The sign-in form is at most {FORM_MAX_BYTES:,} bytes: send the key and the form's token only.",
                        413)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=8)
    except UnicodeDecodeError:
        return Form(None, "The form could not be read: it is not valid UTF-8.", 400)
    except ValueError:
        return Form(None, "The form has more fields than this page's form: send the key and the form's token only.", 400)
    values, csrf = fields.get("key", []), fields.get("csrf", [])
    return Form(values[0].strip() if values else None, None, csrf=csrf[0] if csrf else "")


FormDep = Annotated[Form, Depends(read_form)]


def _from_another_site(request: Request) -> bool:
    """The browser says another site posted this: cross-site, or a sibling subdomain (which can set cookies)."""
    return request.headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site")


def _forged(request: Request, form: Form) -> bool:
    """A sign-in not sent by this site's own form: posted from another site, or without the form's token."""
    if _from_another_site(request):
        return True
    token = request.cookies.get(CSRF_COOKIE, "")
    return not token or not hmac.compare_digest(token.encode(), form.csrf.encode())


@router.post("/sign-in")
def sign_in(form: FormDep, request: Request, conn: ConnDep) -> Response:
    if form.error:
        return _sign_in_form(request, form.error, form.status)
    if not form.key:
        return _sign_in_form(request, "Enter a key of your namespace.", 422)
    if _forged(request, form):
        return _sign_in_form(request, "This sign-in did not come from this page's form (or the form is out of date):"
                             " sign in again from this page.", 403)
    who = resolve_key(conn, form.key)
    if who is None:
        return _sign_in_form(request, "That is not a key of any namespace (or it was revoked, or it expired)."
                             " Check it, or ask your operator for one.", 401)
    previous = request.cookies.get(COOKIE)
    if previous:  # signing in again (or with another key) replaces this browser's session
        end_session(conn, previous)
    response = RedirectResponse("/ui", status_code=303)
    _set_cookie(response, request, COOKIE, start_session(conn, who.key_id, COOKIE_MAX_AGE))
    return response


@router.post("/sign-out")
def sign_out(request: Request, conn: ConnDep) -> Response:
    if _from_another_site(request):
        return _html(render("sign_in.html", error="Sign out from this page's own button.", csrf=""), 403)
    session = request.cookies.get(COOKIE)
    if session:
        end_session(conn, session)
    response = RedirectResponse("/ui", status_code=303)
    _forget(response, request)
    return response


def _forget(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


@router.get("")
def page(request: Request, conn: ConnDep, services: ServicesDep) -> Response:
    session = request.cookies.get(COOKIE)
    if not session:
        return _sign_in_form(request)
    who = session_principal(conn, session)
    if who is None:
        response = _sign_in_form(request, "Your session is no longer valid (signed out, expired, its key revoked, or"
                                 " its namespace deleted); sign in again.", 401)
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
