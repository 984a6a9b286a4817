"""Find credentials in written content and redact them before anything is stored. Pure.

A memory store is read back into model contexts and shown to other keys: a secret written once would
leak forever. Each pattern names a kind; the answer reports kind and position, never the secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (kind, pattern, group holding the secret: 0 the whole match, else the named part only)
_PATTERNS: tuple[tuple[str, re.Pattern[str], int], ...] = (
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)"), 0),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"), 0),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), 0),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), 0),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), 0),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"), 0),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), 0),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), 0),
    ("url_password", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s/@]+)@"), 1),
    ("bearer_token", re.compile(r"\b(?:Authorization\s*:\s*)?Bearer\s+([A-Za-z0-9._~+/=-]{16,})", re.IGNORECASE), 1),
)
REDACTED = "[REDACTED:{kind}]"


@dataclass(frozen=True)
class Found:
    kind: str
    start: int  # character offsets in the text as written
    end: int


def find_secrets(text: str) -> list[Found]:
    """Non-overlapping secrets in `text`, in order (the first pattern to claim a span keeps it)."""
    found: list[Found] = []
    for kind, pattern, group in _PATTERNS:
        for m in pattern.finditer(text):
            start, end = m.span(group)
            if not any(start < f.end and f.start < end for f in found):
                found.append(Found(kind, start, end))
    return sorted(found, key=lambda f: f.start)


def redact(text: str, found: list[Found]) -> str:
    """`text` with every found span replaced by a marker naming its kind."""
    out, last = [], 0
    for f in found:
        out += [text[last:f.start], REDACTED.format(kind=f.kind)]
        last = f.end
    return "".join(out) + text[last:]
