"""Build a completed task's summary from its cited scratchpad entries. Pure: no I/O.

The summary states the goal and outcome, then the task's sourced findings (facts and results
with citations, newest first, each in its short `summary` form when it has one), each followed
by its sources, until a token cap. Unsourced claims and notes are left out: long-term memory
should only keep what can be traced.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from agentmem.core.tokens import count_tokens

DEFAULT_MAX_TOKENS = 400


def _sources(citations: Sequence[dict[str, Any]]) -> str:
    parts = []
    for c in citations:
        s = str(c.get("source", ""))
        if c.get("locator"):
            s += f"#{c['locator']}"
        parts.append(s)
    return "; ".join(parts)


def build_task_summary(
    goal: str,
    outcome: str | None,
    entries: Sequence[Any],
    max_tokens: int = DEFAULT_MAX_TOKENS,
    count: Callable[[str], int] = count_tokens,
) -> str:
    """`entries` need kind, content, summary, citations (scratchpad Entry rows fit)."""
    head = f"Task: {goal}"
    if outcome:
        head += f"\nOutcome: {outcome}"
    lines = [head]
    cited = [e for e in entries if e.kind in ("fact", "result") and e.citations]
    if cited:
        lines.append("Findings:")
    used = count("\n".join(lines))
    kept = 0
    for e in reversed(cited):
        line = f"- {(e.summary or e.content).strip()} [source: {_sources(e.citations)}]"
        cost = count("\n" + line)
        if used + cost > max_tokens:
            break
        lines.append(line)
        used += cost
        kept += 1
    if cited and kept < len(cited):
        lines.append(f"({len(cited) - kept} older findings omitted)")
    elif not cited:
        lines.append("No sourced findings were recorded.")
    return "\n".join(lines)
