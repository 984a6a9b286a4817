"""Streamable HTTP at /mcp, inside the service: the namespace key as bearer token, same roles and limits.
Mounted by api/mcp/mount.py, which imports this module on the first /mcp request.

/mcp is an ordinary route of the app: its key is checked (401 otherwise) and its namespace admitted
(429/503) like any API request, before the MCP transport reads the message. Each tool call is then an
API request to the app itself, in process (httpx.ASGITransport), with the same Authorization header:
auth, roles, validation, ingest limits and error mapping are the API's. That inner request is marked
ADMITTED so it runs under the /mcp request's admission instead of taking a second slot.

Stateless mode: every POST stands alone (no session to own, pin to a replica or expire), answered with
one JSON message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agentmem.api.admission_middleware import ADMITTED
from agentmem.api.mcp.server import build_server
from agentmem.api.mcp.tools import ApiRequest


class _Handover(Response):
    """A route's answer that hands the request, body unread, to another ASGI app."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _admitted(app: ASGIApp) -> ASGIApp:
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await app({**scope, ADMITTED: True}, receive, send)

    return inner


class McpEndpoint:
    """The MCP server of one app, its session manager (run in the app's lifespan) and its API client."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        transport = httpx.ASGITransport(app=_admitted(app), raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://agentmem.internal", timeout=None)
        self.server = build_server(self._send)
        # The app's own body limit (AGENTMEM_MAX_BODY_BYTES, a 413 naming it) has already applied to /mcp;
        # the SDK's (4 MiB by default, a plain-text 413) would refuse what the API accepts.
        self.manager = StreamableHTTPSessionManager(self.server, json_response=True, stateless=True,
                                                    max_request_body_size=max_body_bytes)

    async def _send(self, request: ApiRequest, ctx: ServerRequestContext[Any, Any]) -> httpx.Response:
        authorization = ctx.request.headers.get("authorization") if ctx.request is not None else None
        return await self.client.request(
            request.method, request.path, json=request.json, params=request.params,
            headers={"authorization": authorization} if authorization else None,
        )

    def response(self) -> Response:
        """The answer of the /mcp route (api/mcp/mount.py): the request handed to the session manager."""
        return _Handover(self.manager.handle_request)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        async with self.client, self.manager.run():
            yield
