from dataclasses import dataclass, field
from typing import Any

from agentmem.core.tokens import count_tokens
from agentmem.memory.summaries import build_task_summary


@dataclass
class E:
    kind: str
    content: str
    summary: str | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)


def test_summary_keeps_cited_claims_with_sources_only() -> None:
    entries = [
        E("fact", "Paris is the capital of France.", citations=[{"source": "https://en.wikipedia.org/wiki/Paris"}]),
        E("fact", "The moon is cheese."),  # unsourced: left out
        E("note", "remember to check", citations=[{"source": "x"}]),  # notes are not findings
        E("result", "long result " * 50, summary="short result", citations=[{"source": "tool:calc", "locator": "run-3"}]),
    ]
    text = build_task_summary("Find capitals", "done", entries)
    assert text.startswith("Task: Find capitals\nOutcome: done\nFindings:")
    assert "Paris is the capital of France. [source: https://en.wikipedia.org/wiki/Paris]" in text
    assert "- short result [source: tool:calc#run-3]" in text
    assert "cheese" not in text and "remember" not in text


def test_summary_respects_token_cap_newest_first() -> None:
    entries = [E("fact", f"finding number {i} " * 10, citations=[{"source": f"s{i}"}]) for i in range(50)]
    text = build_task_summary("g", None, entries, max_tokens=120)
    assert count_tokens(text) <= 120 + count_tokens("\n(50 older findings omitted)")
    assert "finding number 49" in text and "finding number 0 " not in text
    assert "older findings omitted" in text


def test_summary_without_findings_says_so() -> None:
    assert "No sourced findings" in build_task_summary("g", None, [E("fact", "x")])
