"""The limits of agentmem.core.settings (max_metadata_bytes, ...) applied to parsed bodies.

Each check says which setting refused the request and what the client should send instead. Sizes
and counts are 413 (send less), shapes 422 (send it differently). The nesting of the whole body is
checked earlier, on its raw bytes (api/body_depth.py).
"""

from __future__ import annotations

import json
from typing import Any

from agentmem.core.errors import AgentmemError, InvalidInput, PayloadTooLarge
from agentmem.core.json_depth import depth
from agentmem.core.settings import Settings


def metadata_problem(metadata: dict[str, Any], settings: Settings, where: str = "metadata") -> AgentmemError | None:
    """Why this metadata cannot be stored (too deep, too big), or None."""
    limit = settings.max_metadata_depth
    found = depth(metadata, stop_above=limit)
    if found > limit:
        return InvalidInput(f"{where} nests more than {limit} levels deep; the limit is {limit} (AGENTMEM_MAX_METADATA_DEPTH): flatten it,"
                            f" e.g. {{\"a.b\": 1}} instead of {{\"a\": {{\"b\": 1}}}}")
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    if size > settings.max_metadata_bytes:
        return PayloadTooLarge(f"{where} is {size:,} bytes as JSON; the limit is {settings.max_metadata_bytes:,}"
                               f" (AGENTMEM_MAX_METADATA_BYTES): keep in metadata what you filter on, and put"
                               f" the rest in the text")
    return None


def context_problem(context: str | None, settings: Settings) -> AgentmemError | None:
    if context is not None and len(context) > settings.max_context_chars:
        return PayloadTooLarge(f"context is {len(context):,} characters; the limit is {settings.max_context_chars:,}"
                               f" (AGENTMEM_MAX_CONTEXT_CHARS): it is indexed with every chunk, so send a short"
                               f" title or the preceding turn, not a document")
    return None


def document_problem(metadata: dict[str, Any], context: str | None, settings: Settings) -> AgentmemError | None:
    return metadata_problem(metadata, settings) or context_problem(context, settings)


def check_document(metadata: dict[str, Any], context: str | None, settings: Settings) -> None:
    problem = document_problem(metadata, context, settings)
    if problem is not None:
        raise problem


def check_count(count: int, limit: int, what: str, setting: str) -> None:
    """413 when a list in the body is longer than its setting allows."""
    if count > limit:
        raise PayloadTooLarge(f"{what}: {count:,} given; the limit is {limit:,} ({setting}): send fewer")
