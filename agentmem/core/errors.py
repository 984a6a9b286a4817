"""Typed errors of the core, mapped to HTTP status codes in one place (api.errors).

AgentmemError
 +-- NotFound          404: the id does not exist in the caller's namespace
 +-- Unauthorized      401: missing, unknown, revoked or expired key
 +-- Forbidden         403: the key is valid but its role does not allow the request
 +-- InvalidInput      422: the request is well-formed JSON but its content is wrong
 |    +-- ScreeningRefused 422: refused by the namespace's screening policy (injection or secrets)
 +-- PayloadTooLarge   413: above a configured limit
 +-- Conflict          409: the request contradicts the current state
 +-- ModelUnavailable  503: the namespace's embedding model is not configured in this service
 +-- Refused              not now: retry after `retry_after` s (sent as Retry-After); `limit` names the setting
 |    +-- RateLimited  429: the caller's namespace is over one of its limits (api/admission.py)
 |    +-- Overloaded   503: the process or a shared resource (slots, pool, embedding model) is saturated
 +-- ConfigurationError   start-up refused (e.g. pgvector too old)
"""

from __future__ import annotations

import math
from typing import Any


class AgentmemError(Exception):
    status_code = 500
    code = "internal"
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


class Forbidden(AgentmemError):
    status_code = 403
    code = "forbidden"


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


class Refused(AgentmemError):
    """Not now: retry after `retry_after` whole seconds. `limit` names the setting that refused and
    `value` its value; `reason` says which check (for metrics); `namespace` whose request it was."""

    status_code = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1, limit: str, value: float | None = None,
                 reason: str = "", namespace: str = "") -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))
        self.limit = limit
        self.value = value
        self.reason = reason or limit  # in_flight | rate | ingest | queue_full | queue_timeout | pool | embed_*
        self.namespace = namespace


class RateLimited(Refused):
    status_code = 429
    code = "rate_limited"


class Overloaded(Refused):
    status_code = 503
    code = "overloaded"


class ConfigurationError(AgentmemError):
    code = "configuration"
