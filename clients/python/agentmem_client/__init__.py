"""Python client for agentmem: `AgentMem` (sync) and `AsyncAgentMem`, typed answers, retries, typed errors.

Depends on httpx and pydantic only; it imports nothing of the service.
"""

from agentmem_client.client import AgentMem, AsyncAgentMem
from agentmem_client.errors import (
    AgentMemError,
    APIError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    MethodNotAllowed,
    ModelUnavailable,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unavailable,
)
from agentmem_client.runner import Retry
from agentmem_client.types import Citation, Document, Pinned

# Routes of the service's OpenAPI document this client deliberately does not call, and why.
# (tests/test_client_coverage.py fails for a route neither called nor listed here.)
NOT_COVERED: dict[tuple[str, str], str] = {}

__all__ = [
    "NOT_COVERED",
    "APIError",
    "AgentMem",
    "AgentMemError",
    "AsyncAgentMem",
    "BadRequest",
    "Citation",
    "Conflict",
    "Document",
    "Forbidden",
    "InvalidInput",
    "MethodNotAllowed",
    "ModelUnavailable",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "Pinned",
    "RateLimited",
    "Retry",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
]
