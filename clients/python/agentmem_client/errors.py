"""The service's error answers ({"error": {"code", "message"}}) as exceptions you can catch precisely.

AgentMemError
 +-- TransportError        no answer: the connection failed or timed out (after the retries allowed)
 +-- APIError              the service answered with an error; `.status`, `.code`, `.message` (the server's)
      +-- BadRequest        400 invalid_json: the body could not be read
      +-- Unauthorized      401: missing or unknown key
      +-- Forbidden         403: the key may not do this
      +-- NotFound          404: no such id in the key's namespace
      +-- MethodNotAllowed  405
      +-- Conflict          409: the request contradicts the current state
      +-- PayloadTooLarge   413: above a configured limit; send less
      +-- InvalidInput      422: well-formed, but the content is wrong (`.fields` names where)
      +-- RateLimited       429: the namespace's limits; retried after Retry-After, raised when retries run out
      +-- Unavailable       503
      |    +-- Overloaded         a shared resource is saturated; retried like 429
      |    +-- ModelUnavailable   the namespace's embedding model is not configured; not retried
      +-- ServerError       500 and anything else: a bug in the service
"""

from __future__ import annotations

from typing import Any


class AgentMemError(Exception):
    """Everything this client raises."""


class TransportError(AgentMemError):
    """The request got no answer: connection refused, reset, or timed out."""


class APIError(AgentMemError):
    status = 500
    code = "internal"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 body: dict[str, Any] | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.body = body or {}  # the whole "error" object: limit, value, fields, ... when the server sent them
        self.retry_after = retry_after

    @property
    def fields(self) -> list[dict[str, Any]]:
        """Which fields a 422 refused, and why."""
        return list(self.body.get("fields") or [])

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


class BadRequest(APIError):
    status, code = 400, "invalid_json"


class Unauthorized(APIError):
    status, code = 401, "unauthorized"


class Forbidden(APIError):
    status, code = 403, "forbidden"


class NotFound(APIError):
    status, code = 404, "not_found"


class MethodNotAllowed(APIError):
    status, code = 405, "method_not_allowed"


class Conflict(APIError):
    status, code = 409, "conflict"


class PayloadTooLarge(APIError):
    status, code = 413, "payload_too_large"


class InvalidInput(APIError):
    status, code = 422, "invalid_input"


class RateLimited(APIError):
    status, code = 429, "rate_limited"


class Unavailable(APIError):
    status, code = 503, "unavailable"


class Overloaded(Unavailable):
    code = "overloaded"


class ModelUnavailable(Unavailable):
    code = "model_unavailable"


class ServerError(APIError):
    status, code = 500, "internal"


_BY_CODE: dict[str, type[APIError]] = {
    c.code: c for c in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict,
                        PayloadTooLarge, InvalidInput, RateLimited, Overloaded, ModelUnavailable)
}
_BY_STATUS: dict[int, type[APIError]] = {
    c.status: c for c in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict,
                          PayloadTooLarge, InvalidInput, RateLimited, Unavailable)
}


def error_for(status: int, payload: Any, retry_after: float | None = None) -> APIError:
    """The exception for an error answer: by the envelope's code, else by status; the server's message kept."""
    body = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(body, dict):
        text = payload if isinstance(payload, str) and payload else f"HTTP {status} without an error body"
        body = {"message": text}
    code = str(body.get("code") or "")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status) or ServerError
    return cls(str(body.get("message") or f"HTTP {status}"), status=status, code=code or None, body=body,
               retry_after=retry_after)
