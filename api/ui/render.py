"""Templates to HTML: Jinja2 with autoescaping on, so every value from the database is shown as text.

The page runs no script and loads nothing from elsewhere; the headers say so to the browser too
(a Content-Security-Policy that allows only this page's own stylesheet, by its hash, and forms
posted back to the service), so even an escaping mistake could not run injected code.
"""

from __future__ import annotations

import base64
import hashlib
import re
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


# Characters that reorder or hide what an operator reads: bidirectional controls ("invoices/\u202efdp.exe"
# shows as "invoices/exe.pdf"), zero-width and invisible characters, the byte-order mark, tag characters.
_HIDDEN = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\U000e0000-\U000e007f]")


def shown(value: Any) -> Any:
    """Every value the page prints (Jinja's finalize): such characters as their code points, "<U+202E>"."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _HIDDEN.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)
    return value


_env = Environment(
    loader=PackageLoader("agentmem.api.ui", "templates"),
    autoescape=True,
    finalize=shown,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(score=score, when=when, day=day)
_env.globals.update(ago=ago, css=Markup(CSS))


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)
