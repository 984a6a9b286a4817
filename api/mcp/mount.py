"""/mcp mounted without importing the MCP SDK: the endpoint (api/mcp/http.py) is built on the first /mcp
request, so a service that never serves MCP does not pay the SDK's import at start-up (1.5-4 s).

The endpoint's session manager needs a task group that lives as long as the app: `run()` opens one in
the lifespan, and the first /mcp request starts the endpoint in it (the import runs off the event loop).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import TaskGroup, TaskStatus
from fastapi import FastAPI, Request
from starlette.responses import Response

from agentmem.api.deps import PrincipalDep

PATH = "/mcp"


class LazyMcp:
    """The app's MCP endpoint, built and started when first asked for."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._endpoint: Any = None  # api.mcp.http.McpEndpoint, once started
        self._lock = anyio.Lock()
        self._group: TaskGroup | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Run in the app's lifespan: the endpoint, if one was started, stops when it ends."""
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            finally:
                self._group = None
                group.cancel_scope.cancel()

    async def endpoint(self) -> Any:
        if self._endpoint is None:
            async with self._lock:
                if self._endpoint is None:
                    if self._group is None:
                        raise RuntimeError("/mcp needs the app's lifespan running")
                    http = await anyio.to_thread.run_sync(importlib.import_module, "agentmem.api.mcp.http")
                    endpoint = http.McpEndpoint(self.app, self.app.state.settings.max_body_bytes)
                    await self._group.start(_serve, endpoint)
                    self._endpoint = endpoint
        return self._endpoint


async def _serve(endpoint: Any, *, task_status: TaskStatus[None]) -> None:
    async with endpoint.run():
        task_status.started()
        await anyio.sleep_forever()


def install(app: FastAPI) -> LazyMcp:
    """Add /mcp to the app; the caller runs the returned object's `run()` in the app's lifespan."""
    lazy = LazyMcp(app)

    async def mcp(request: Request, who: PrincipalDep) -> Response:
        return (await lazy.endpoint()).response()

    # POST only: stateless, there is no session to stream to (GET) or end (DELETE); those answer 405.
    app.add_api_route(PATH, mcp, methods=["POST"], include_in_schema=False)
    return lazy
