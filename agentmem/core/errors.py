"""Typed errors of the core, mapped to HTTP status codes in one place (api.errors).

AgentmemError
 +-- NotFound          404: the id does not exist in the caller's namespace
 +-- Unauthorized      401: missing or unknown key
 +-- InvalidInput      422: the request is well-formed JSON but its content is wrong
 |    +-- ScreeningRefused 422: refused by the namespace's screening policy (injection or secrets)
 +-- PayloadTooLarge   413: above a configured limit
 +-- Conflict          409: the request contradicts the current state
 +-- ModelUnavailable  503: the namespace's embedding model is not configured in this service
 +-- Overloaded        503: a shared resource (e.g. the embedding model) is saturated; retry after `retry_after` s
 +-- ConfigurationError   start-up refused (e.g. pgvector too old)
"""

from __future__ import annotations

from typing import Any


class AgentmemError(Exception):
    status_code = 500
    code = "internal"
    retry_after: float | None = None  # seconds, sent as Retry-After
    extra: dict[str, Any] | None = None  # more fields for the error body (e.g. a screening report)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AgentmemError):
    status_code = 404
    code = "not_found"


class Unauthorized(AgentmemError):
    status_code = 401
    code = "unauthorized"


class InvalidInput(AgentmemError):
    status_code = 422
    code = "invalid_input"


class ScreeningRefused(InvalidInput):
    """A write refused by the namespace's screening policy; `extra` carries the flags or redactions."""

    code = "screening_refused"

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.extra = {"screening": report}


class PayloadTooLarge(AgentmemError):
    status_code = 413
    code = "payload_too_large"


class Conflict(AgentmemError):
    status_code = 409
    code = "conflict"


class ModelUnavailable(AgentmemError):
    status_code = 503
    code = "model_unavailable"


class Overloaded(AgentmemError):
    status_code = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(AgentmemError):
    code = "configuration"
