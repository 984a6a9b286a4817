"""Every operation of /openapi.json names the error answers it can give, with the one error envelope.

Applied once to the generated document (not to each route decorator), by rules that follow where the
errors come from: authentication (401, 403), admission and overload (429, 503), the body (400, 413,
422), what a path or body names (404), and writes meeting the current state (409).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong and what to fix; a refusal (429, 503) also says which limit and when to retry."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    fields: list[FieldError] | None = None
    limit: str | None = None
    value: float | None = None
    retry_after: float | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


WRITES = frozenset({"post", "put", "patch", "delete"})
_RETRY = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
DESCRIPTIONS: dict[int, str] = {
    400: "The body is not JSON (or not UTF-8); send a JSON object",
    401: "Missing or unknown key",
    403: "The key's role may not do this",
    404: "Something the path or the body names does not exist in this namespace",
    409: "The request conflicts with the current state (e.g. the task is completed, the name is taken)",
    413: "The body or one of its texts is over a size limit",
    422: "A field is missing or invalid; the message names it",
    429: "Over this namespace's rate or in-flight limit; retry after Retry-After seconds",
    503: "The service is overloaded or its model is unavailable; retry after Retry-After seconds",
}


def statuses(method: str, operation: dict[str, Any], admitted: bool) -> list[int]:
    """The error statuses an operation can answer, by where they come from."""
    out: set[int] = set()
    has_body = "requestBody" in operation
    params = operation.get("parameters") or []
    if operation.get("security"):
        out |= {401, 403}
    if admitted:
        out |= {429, 503}
    if has_body:
        out |= {400, 413, 422}
    if params:
        out.add(422)
    if has_body or any(p.get("in") == "path" for p in params):
        out.add(404)
    if method in WRITES:
        out.add(409)
    return sorted(out)


def document_errors(schema: dict[str, Any], admitted: Callable[[str], bool]) -> dict[str, Any]:
    """Add the error answers to every operation of `schema` (in place, idempotent); `admitted(path)`:
    whether requests to the path pass admission control (and so may be refused with 429 or 503)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    definition = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in definition.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault("ErrorOut", definition)
    components.pop("HTTPValidationError", None)  # the 422 is the envelope too (api/errors.py)
    components.pop("ValidationError", None)
    ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in statuses(method, operation, admitted(path)):
                answer: dict[str, Any] = {"description": DESCRIPTIONS[status],
                                          "content": {"application/json": {"schema": ref}}}
                if status in (429, 503):
                    answer["headers"] = _RETRY
                previous = responses.get(str(status))
                if previous is None or _is_fastapi_validation(previous):
                    responses[str(status)] = answer
    return schema


def _is_fastapi_validation(answer: dict[str, Any]) -> bool:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def install(app: FastAPI, exempt: frozenset[str]) -> None:
    """Serve the document with the error answers; `exempt`: the paths admission lets by."""
    generate: Callable[[], dict[str, Any]] = app.openapi  # FastAPI's, which caches the document it makes
    done: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not done:
            done.append(document_errors(generate(), lambda path: path not in exempt))
        return done[0]

    app.openapi = openapi  # type: ignore[method-assign]

