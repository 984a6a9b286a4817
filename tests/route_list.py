"""Every route of an app as "METHOD /path", through included routers (FastAPI >= 0.165 wraps them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


def shape(method: str, path: str) -> str:
    """"GET /tasks/{task_id}/versions?x=1" -> "GET /tasks/{}/versions": routes and calls compared by shape."""
    return method + " " + re.sub(r"\{[^}]*\}", "{}", path.split("?")[0])


def _routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            context = getattr(r, "include_context", None)
            yield from _routes(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
            continue
        for m in getattr(r, "methods", None) or ():
            if m != "HEAD":
                yield m, prefix + r.path


def app_routes(app: Any) -> set[str]:
    found = {shape(m, p) for m, p in _routes(app.routes)}
    assert len(found) > 10, f"the route listing found only {found}: has FastAPI changed how routers are kept?"
    return found
