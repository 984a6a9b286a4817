"""The MCP server both transports run: lists the tools of tools.py and executes each as an API request.

How a request reaches the API is given by the transport (`Send`): in process with the MCP request's own
bearer key (http.py), or over HTTP with the key from the environment (stdio.py). The API's answer
becomes the tool's result; an API error becomes a tool error (isError) carrying the API's message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from agentmem.api.mcp.tools import BY_NAME, TOOLS, ApiRequest, ToolInputError, ToolSpec
from agentmem.api.schemas.base import unstorable

Send = Callable[[ApiRequest, ServerRequestContext[Any, Any]], Awaitable[httpx.Response]]

INSTRUCTIONS = (
    "agentmem keeps an agent's memory: a task's pinned context, a scratchpad of cited step results, and "
    "long-term memory. Start a job with create_task; before every LLM call, assemble_context; after every "
    "step, write_scratchpad with citations; before finishing, list_unsourced_claims; then complete_task."
)


def as_mcp_tool(spec: ToolSpec) -> types.Tool:
    meta = {"agentmem/gen_ai.operation.name": spec.operation} if spec.operation else None
    return types.Tool(
        name=spec.name, title=spec.title, description=spec.description, input_schema=spec.input_schema,
        annotations=types.ToolAnnotations(
            title=spec.title, read_only_hint=spec.read_only, destructive_hint=spec.destructive,
            idempotent_hint=spec.idempotent, open_world_hint=False,
        ),
        _meta=meta,
    )


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def tool_error(message: str, structured: Any = None) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], structured_content=structured,
                                is_error=True)


def api_result(response: httpx.Response) -> types.CallToolResult:
    """2xx: the API's JSON as text and as structured content; otherwise a tool error with the API's message."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if response.is_success:
        structured = body if isinstance(body, dict) else {"items": body}
        return types.CallToolResult(content=[types.TextContent(text=_text(body))], structured_content=structured)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message = f"{error['message']} (HTTP {response.status_code} {error.get('code', '')})".replace(" )", ")")
    else:
        message = f"HTTP {response.status_code}: {response.text[:500] or response.reason_phrase}"
    retry = response.headers.get("retry-after")
    if retry is not None:
        message += f"; retry after {retry} s"
    return tool_error(message, body if isinstance(body, dict) else None)


def build_server(send: Send, *, name: str = "agentmem", version: str = "0.1.0") -> Server[Any]:
    tools = [as_mcp_tool(spec) for spec in TOOLS]

    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext[Any, Any],
                        params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = BY_NAME.get(params.name)
        if spec is None:
            raise MCPError(types.INVALID_PARAMS, f"unknown tool {params.name!r}; tools/list names the tools")
        arguments = dict(params.arguments or {})
        problem = unstorable(arguments, "arguments")  # NaN or Infinity cannot even be sent on to the API as JSON
        if problem:
            return tool_error(problem)
        try:
            request = spec.request(arguments)
        except ToolInputError as exc:
            return tool_error(exc.message)
        try:
            response = await send(request, ctx)
        except httpx.HTTPError as exc:  # stdio: the service could not be reached
            return tool_error(f"could not reach agentmem: {exc.__class__.__name__}: {exc}")
        return api_result(response)

    return Server(name, version=version, instructions=INSTRUCTIONS, on_list_tools=list_tools,
                  on_call_tool=call_tool)
