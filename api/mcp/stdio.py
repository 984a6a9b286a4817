"""`agentmem mcp --url URL`: the MCP server over stdio for desktop agents, calling a running service.

The key comes from AGENTMEM_API_KEY (never from the command line, where other users of the machine
could read it); every tool call is a request to URL with it, so the service applies its roles and
limits exactly as for any client. Imports neither the app nor the model: it starts in a fraction of
a second and needs no database.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server

from agentmem.api.mcp.server import build_server
from agentmem.api.mcp.tools import ApiRequest

KEY_VARIABLE = "AGENTMEM_API_KEY"


async def serve(url: str, key: str, timeout: float = 120.0) -> None:
    headers = {"Authorization": f"Bearer {key}", "User-Agent": "agentmem-mcp"}
    async with httpx.AsyncClient(base_url=url.rstrip("/"), headers=headers,
                                 timeout=httpx.Timeout(timeout, connect=10.0)) as client:

        async def send(request: ApiRequest, ctx: ServerRequestContext[Any, Any]) -> httpx.Response:
            return await client.request(request.method, request.path, json=request.json, params=request.params)

        server = build_server(send)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())


def run(url: str, key: str) -> None:
    anyio.run(serve, url, key)
