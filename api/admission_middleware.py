"""Admission applied to HTTP requests: a namespace's limits, then the process's slots, released when
the response is sent (api/admission.py keeps the counts).

The middleware learns a request's namespace from a cache of key hash -> namespace filled by the key
lookup (api/deps.py), so that a tenant's burst is refused at the door, before it queues for the
process's slots or touches the database; the first request of a key is counted after its lookup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from agentmem.api.admission import Admission, KeyCache, Limits, ProcessGate
from agentmem.core.errors import Refused
from agentmem.core.settings import Settings

TICKET = "agentmem.ticket"  # the scope key of a request's Ticket
# Set (in process only, never from a request) on an API call made inside a request that was admitted
# already: an MCP tool call (api/mcp/http.py) runs under the /mcp request's slots, not a second set.
ADMITTED = "agentmem.admitted"


@dataclass
class Ticket:
    """A request's admission: the namespace it was counted in (None: not yet), released at its end."""

    key_hash: bytes | None
    namespace: str | None = None


@dataclass
class Gatekeeper:
    """Everything admission needs, made once per app."""

    admission: Admission
    gate: ProcessGate
    keys: KeyCache
    on_refused: Callable[[Refused], None]
    exempt: frozenset[str] = frozenset({"/healthz", "/metrics"})

    @staticmethod
    def of(settings: Settings, on_refused: Callable[[Refused], None]) -> Gatekeeper:
        default, overrides = Limits.of(settings)
        return Gatekeeper(
            Admission(default, overrides, retry_after=settings.retry_after_seconds),
            ProcessGate(settings.max_in_flight, settings.max_queued, settings.queue_wait_seconds,
                        settings.retry_after_seconds),
            KeyCache(), on_refused)

    def admit_principal(self, ticket: Ticket | None, namespace: str) -> None:
        """After the key lookup: count a request the middleware could not place (its key was new here)."""
        if ticket is None:
            return
        if ticket.key_hash is not None:
            self.keys.remember(ticket.key_hash, namespace)
        if ticket.namespace is None:
            self.admission.enter(namespace)
            ticket.namespace = namespace


def bearer_hash(scope: Scope, hash_key: Callable[[str], bytes]) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return hash_key(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    return None


class AdmissionMiddleware:
    """Namespace limits for keys seen before, then the process's slots; both released at the end."""

    def __init__(self, app: ASGIApp, keeper: Gatekeeper, hash_key: Callable[[str], bytes]) -> None:
        self.app = app
        self.keeper = keeper
        self.hash_key = hash_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.keeper.exempt or scope.get(ADMITTED):
            await self.app(scope, receive, send)
            return
        k = self.keeper
        key_hash = bearer_hash(scope, self.hash_key)
        ticket = Ticket(key_hash)
        known = k.keys.get(key_hash) if key_hash is not None else None
        try:
            if known is not None:
                k.admission.enter(known)
                ticket.namespace = known
            try:
                await k.gate.enter()
            except Refused:
                if ticket.namespace is not None:
                    k.admission.leave(ticket.namespace)
                raise
        except Refused as exc:
            k.on_refused(exc)
            await refuse(send, exc)
            return
        scope[TICKET] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            k.gate.leave()
            if ticket.namespace is not None:
                k.admission.leave(ticket.namespace)


def refusal_body(exc: Refused) -> dict[str, Any]:
    return {"error": {"code": exc.code, "message": exc.message, "limit": exc.limit, "value": exc.value,
                      "retry_after": exc.retry_after}}


async def refuse(send: Send, exc: Refused) -> None:
    body = json.dumps(refusal_body(exc)).encode()
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(exc.retry_after).encode())]})
    await send({"type": "http.response.body", "body": body})
