"""Request dependencies as Annotated aliases: the services, a pooled connection, the caller."""

from __future__ import annotations

import hmac
from typing import Annotated, Any, AsyncIterator, Callable, Iterator

import psycopg
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agentmem.api.admission_middleware import TICKET, Gatekeeper
from agentmem.api.services import Services
from agentmem.core.errors import Forbidden, PayloadTooLarge, Unauthorized
from agentmem.core.settings import Settings
from agentmem.core.tokens import count_many
from agentmem.memory.keys import allows
from agentmem.memory.namespaces import Principal, authenticate

_bearer = HTTPBearer(auto_error=False)


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency on a worker thread,
# a hand-off per dependency per request (the I/O ones, the key lookup and the connection, stay plain).
def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def get_services(request: Request) -> Services:
    return services_of(request)


ServicesDep = Annotated[Services, Depends(get_services)]


_HELD = "agentmem.conn"  # the scope key of the connection a route holds (ConnDep), while it holds it


def get_conn(request: Request, services: ServicesDep) -> Iterator[psycopg.Connection[Any]]:
    """A route's connection, given back when the route returns, before the response is sent."""
    with services.pool.connection() as conn:
        request.scope[_HELD] = conn
        try:
            yield conn
        finally:
            request.scope.pop(_HELD, None)


ConnDep = Annotated[psycopg.Connection[Any], Depends(get_conn, scope="function")]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_keeper(request: Request) -> Gatekeeper:
    return request.app.state.keeper  # type: ignore[no-any-return]


def get_principal(request: Request, services: ServicesDep, credentials: Credentials) -> Principal:
    """Who calls, then their namespace's admission (429 above its limits: api/admission.py).

    The lookup borrows the route's own connection when the route has taken it already, else takes
    one for the one statement: a request never waits for a second connection while holding one."""
    if credentials is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    held = request.scope.get(_HELD)
    try:
        if held is not None:
            principal = authenticate(held, credentials.credentials)
        else:
            with services.pool.connection() as conn:
                principal = authenticate(conn, credentials.credentials)
    except Unauthorized:
        ticket = request.scope.get(TICKET)
        if ticket is not None and ticket.key_hash is not None:
            get_keeper(request).keys.forget(ticket.key_hash)  # a revoked key stops counting in its namespace
        raise
    get_keeper(request).admit_principal(request.scope.get(TICKET), principal.namespace)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_role(needed: str, action: str | None = None) -> Callable[..., Principal]:
    """A dependency giving the caller when its key's role reaches `needed` (read < agent < operator), else
    403 naming the role needed. `action` says what the route does ("changing the pinned task context");
    by default the method and path."""

    async def check(request: Request, who: PrincipalDep) -> Principal:
        if not allows(who.role, needed):
            route = request.scope.get("route")
            doing = action or f"{request.method} {getattr(route, 'path', request.url.path)}"
            raise Forbidden(f"this key has role {who.role}; {doing} needs {_an(needed)} {needed} key")
        return who
    return check


def _an(role: str) -> str:
    return "an" if role[0] in "aeiou" else "a"


ReadDep = Annotated[Principal, Depends(require_role("read"))]
AgentDep = Annotated[Principal, Depends(require_role("agent"))]
OperatorDep = Annotated[Principal, Depends(require_role("operator"))]


def require_admin(request: Request, credentials: Credentials) -> None:
    token: str = request.app.state.admin_token
    if credentials is None:
        raise Unauthorized("missing admin token: send 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        raise Unauthorized("wrong admin token")


AdminDep = Depends(require_admin)


def check_size(value: int, limit: int, what: str, setting: str) -> None:
    """413 when a text (or a batch) is longer than its setting allows; the message names the setting."""
    if value > limit:
        raise PayloadTooLarge(f"{what} is {value:,} long; the limit is {limit:,} ({setting}): split it,"
                              " or have the operator raise the setting")


def document_texts(body: Any, settings: Settings) -> list[str]:
    """The texts of a document write's body (PUT /documents or POST /documents/batch) that it may embed:
    a text or a batch over its size limit is refused by the route (413), so it is not counted."""
    docs = body.get("documents") if isinstance(body, dict) and "documents" in body else [body]
    if not isinstance(docs, list) or len(docs) > settings.max_batch_documents:
        return []
    return [d["text"] for d in docs if isinstance(d, dict) and isinstance(d.get("text"), str)
            and len(d["text"]) <= settings.max_text_chars]


async def ingest_admission(request: Request, who: PrincipalDep) -> AsyncIterator[None]:
    """Count the tokens of the documents a write brings against its namespace's ingest limit (429 above
    it) until the response is sent. The body was parsed already; its tokens are counted off the loop."""
    try:
        body = await request.json()  # parsed already (and kept) by FastAPI when it is JSON
    except (ValueError, RecursionError):  # not JSON: the route answers 400/422, nothing is embedded
        body = None
    texts = document_texts(body, services_of(request).settings)
    tokens = sum(await run_in_threadpool(count_many, texts)) if texts else 0
    admission = get_keeper(request).admission
    admission.enter_ingest(who.namespace, tokens)
    try:
        yield
    finally:
        admission.leave_ingest(who.namespace, tokens)


IngestDep = Depends(ingest_admission)
