"""Templates to HTML: Jinja2 with autoescaping on, so every value from the database is shown as text.

The page runs no script and loads nothing from elsewhere; the headers say so to the browser too
(a Content-Security-Policy that allows only this page's own stylesheet, by its hash, and forms
posted back to the service), so even an escaping mistake could not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

CSS = files("agentmem.api.ui").joinpath("templates/page.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode()

HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src data:; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def score(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def when(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def day(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d")


def ago(then: datetime, now: datetime) -> str:
    """How long before `now`, in the largest whole unit: '90 days ago', '3 h ago', 'just now'."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {'day' if unit == 'days' and n == 1 else unit} ago"
    raise AssertionError("unreachable")


_env = Environment(
    loader=PackageLoader("agentmem.api.ui", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(score=score, when=when, day=day)
_env.globals.update(ago=ago, css=Markup(CSS))


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)
