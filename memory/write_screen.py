"""What happens to a write: secrets redacted or refused, injected instructions flagged, quarantined or
rejected, per the namespace's policy. Pure: the routes pass every field that can reach a context.

Policy (PUT /settings/screening): `injection` is `flag` (stored, marked), `quarantine` (default: stored,
kept out of search and assembly until an operator releases it) or `reject` (422); `secrets` is `redact`
(default: each secret replaced by `[REDACTED:kind]` before anything is stored) or `refuse` (422).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentmem.core.errors import ScreeningRefused
from agentmem.memory.screening import screen
from agentmem.memory.secrets import find_secrets, redact

INJECTION_ACTIONS = ("flag", "quarantine", "reject")
SECRET_ACTIONS = ("redact", "refuse")


@dataclass(frozen=True)
class Policy:
    injection: str = "quarantine"
    secrets: str = "redact"

    @classmethod
    def from_settings(cls, stored: dict[str, Any] | None) -> Policy:
        s = stored or {}
        return cls(injection=s.get("injection", cls.injection), secrets=s.get("secrets", cls.secrets))


@dataclass
class Screened:
    fields: dict[str, Any]  # the values to store (secrets redacted)
    flags: dict[str, list[str]] = field(default_factory=dict)  # field path -> detector names
    action: str = "none"  # none | flag | quarantine
    redacted: list[dict[str, Any]] = field(default_factory=list)  # {field, kind, start, end}

    @property
    def state(self) -> str:
        """The stored screening state: clean, flagged or quarantined."""
        return {"none": "clean", "flag": "flagged", "quarantine": "quarantined"}[self.action]

    def report(self) -> dict[str, Any]:
        return {"flags": self.flags, "action": self.action, "redacted": self.redacted}


def _walk(value: Any, path: str, visit: Any) -> Any:
    """Apply `visit(path, text)` to every string inside value (dict keys are kept), returning the copy."""
    if isinstance(value, str):
        return visit(path, value)
    if isinstance(value, dict):
        return {k: _walk(v, f"{path}.{k}", visit) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, f"{path}[{i}]", visit) for i, v in enumerate(value)]
    return value


def screen_write(fields: dict[str, Any], policy: Policy) -> Screened:
    """Redact (or refuse) secrets, then screen every string for injected instructions; raise on refuse/reject."""
    out = Screened(fields={})

    def secrets(path: str, text: str) -> str:
        found = find_secrets(text)
        out.redacted.extend({"field": path, "kind": f.kind, "start": f.start, "end": f.end} for f in found)
        return redact(text, found) if found else text

    def injection(path: str, text: str) -> str:
        flags = screen(text)
        if flags:
            out.flags[path] = flags
        return text

    for name, value in fields.items():
        out.fields[name] = _walk(_walk(value, name, secrets), name, injection)
    if out.redacted and policy.secrets == "refuse":
        kinds = sorted({r["kind"] for r in out.redacted})
        where = sorted({r["field"] for r in out.redacted})
        raise ScreeningRefused(f"the write holds credentials ({', '.join(kinds)}) in {', '.join(where)}; this namespace "
                           "refuses them (settings/screening secrets=refuse): remove them and write again",
                               {"flags": out.flags, "action": "refuse", "redacted": out.redacted})
    if out.flags:
        if policy.injection == "reject":
            shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in out.flags.items())
            raise ScreeningRefused(f"the write looks like instructions aimed at the model ({shown}); this namespace "
                               "rejects such writes (settings/screening injection=reject)",
                                   {"flags": out.flags, "action": "reject", "redacted": out.redacted})
        out.action = policy.injection
    return out
