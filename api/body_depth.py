"""Refuse JSON bodies nested deeper than max_json_depth with 422, before anything parses them.

Python's json, Pydantic's validation and serialisation all recurse: a body of a few kilobytes of
brackets would fail inside them (a 500) or, stored, fail every later read. The depth is measured on
the raw bytes (agentmem.core.json_depth.raw_depth: regex and numpy, no recursion), and only when the
body has more openers than the limit, which ordinary bodies do not.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem.api.errors import error_body
from agentmem.core.json_depth import bracket_count, raw_depth

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _is_json(scope: Scope) -> bool:
    """FastAPI reads a body without a content type as JSON too."""
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            return b"json" in value.lower()
    return True


class BodyDepthLimit:
    """Buffer the body (BodyLimit, outside this, has capped its size), measure it, then pass it on."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                await self.app(scope, _replay([message], receive), send)
                return
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        if bracket_count(body) > self.max_depth:
            found = raw_depth(body)
            if found > self.max_depth:
                await _refuse(send, found, self.max_depth)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


async def _refuse(send: Send, found: int, limit: int) -> None:
    message = (f"the request body nests arrays and objects {found} levels deep; the limit is {limit}"
               f" (AGENTMEM_MAX_JSON_DEPTH): send flatter JSON")
    body = json.dumps(error_body("invalid_input", message, fields=[{"field": "body", "message": message}])).encode()
    await send({"type": "http.response.start", "status": 422,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
