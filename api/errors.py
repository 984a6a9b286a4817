"""One place that turns errors into HTTP answers: {"error": {"code", "message"}} with a status that fits."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentmem.api.admission_middleware import TICKET, refusal_body
from agentmem.core.errors import AgentmemError, Overloaded, Refused
from agentmem.core.settings import Settings

log = logging.getLogger("agentmem.api")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _where(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def describe_validation_errors(errors: list[dict[str, Any]]) -> tuple[int, str, list[dict[str, Any]]]:
    for e in errors:
        if e.get("type") == "json_invalid":
            ctx = e.get("ctx") or {}
            return 400, f"the request body is not valid JSON ({ctx.get('error', 'parse error')}); send a JSON object", []
    details = []
    for e in errors:
        kind = e.get("type", "")
        where = _where(tuple(e.get("loc", ())))
        msg = e.get("msg", "invalid")
        if kind == "extra_forbidden":
            msg = "unknown field; remove it (see the API docs at /docs for the accepted fields)"
        elif kind == "missing":
            msg = "required field is missing" if where != "body" else "a JSON object body is required"
        elif kind == "model_attributes_type" and where == "body":
            msg = "the body must be a JSON object, sent with 'Content-Type: application/json'"
        elif kind == "too_long" and isinstance(e.get("input"), str):  # Pydantic says "items" for strings too
            ctx = e.get("ctx") or {}
            msg = f"{ctx.get('actual_length', len(e['input'])):,} characters; at most {ctx.get('max_length'):,} are accepted"
        details.append({"field": where, "message": msg})
    text = "; ".join(f"{d['field']}: {d['message']}" for d in details)
    return 422, text or "invalid request", details


def _unreadable(cause: BaseException) -> str:
    if isinstance(cause, UnicodeError):
        return "the request body is not valid UTF-8; send JSON encoded as UTF-8"
    if isinstance(cause, RecursionError):
        return "the request body is nested too deeply to read; send flatter JSON"
    return "the request body could not be read; send a JSON object encoded as UTF-8"


def pool_refusal(settings: Settings, namespace: str) -> Overloaded:
    """No connection came free in time: the process is overloaded, which a retry may not find."""
    return Overloaded(
        f"no database connection came free within {settings.pool_timeout_seconds:g} s (pool_timeout_seconds; "
        f"the pool has {settings.pool_size()} per process, pool_max_size): the service is overloaded; retry after "
        "Retry-After seconds", retry_after=settings.retry_after_seconds, limit="pool_max_size",
        value=settings.pool_size(), reason="pool", namespace=namespace)


def _refused(request: Request, exc: Refused) -> JSONResponse:
    on_refused = getattr(request.app.state, "on_refused", None)
    if on_refused is not None:
        on_refused(exc)
    return JSONResponse(refusal_body(exc), status_code=exc.status_code,
                        headers={"Retry-After": str(exc.retry_after)})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AgentmemError)
    async def _agentmem(request: Request, exc: AgentmemError) -> JSONResponse:
        if isinstance(exc, Refused):
            return _refused(request, exc)
        return JSONResponse(error_body(exc.code, exc.message, **(exc.extra or {})), status_code=exc.status_code)

    @app.exception_handler(PoolTimeout)
    async def _pool(request: Request, exc: PoolTimeout) -> JSONResponse:
        ticket = request.scope.get(TICKET)
        namespace = (ticket.namespace or "") if ticket is not None else ""
        log.warning("pool timeout on %s %s: %s", request.method, request.url.path, exc)
        return _refused(request, pool_refusal(request.app.state.settings, namespace))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, details = describe_validation_errors(list(exc.errors()))
        code = "invalid_json" if status == 400 else "invalid_input"
        return JSONResponse(error_body(code, message, fields=details), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:  # FastAPI could not read the body
            return JSONResponse(error_body("invalid_json", _unreadable(exc.__cause__), fields=[]), status_code=400)
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "internal error; this is a bug, please report it"), status_code=500)
