"""Retrieved content is data, never instructions: flag what looks like an injected instruction. Pure.

The scan is a tripwire, not a guarantee: it flags text that addresses the model (ignore previous
instructions, you are now, system prompt, role markers) so the caller can see it and decide.
Everything that did not come from the task's operator is marked untrusted whatever the scan says.
"""

from __future__ import annotations

import re

TRUSTED = "trusted"
UNTRUSTED = "untrusted"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("override_instructions", re.compile(
        r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|your|the)\b"
        r"[^.\n]{0,20}\b(instructions?|prompts?|rules|directions|guidelines)\b", re.I)),
    ("role_change", re.compile(r"\byou are now\b|\bact as (an?|the) \w+|\bnew instructions?\s*:", re.I)),
    ("system_prompt", re.compile(r"\b(system prompt|developer message|jailbreak)\b", re.I)),
    ("role_marker", re.compile(r"<\|(im_start|im_end|system|assistant|user)\|>|^\s*(system|assistant)\s*:", re.I | re.M)),
    ("exfiltration", re.compile(r"\b(send|post|upload|exfiltrate)\b[^.\n]{0,60}\b(api[ _-]?key|password|secret|token|credentials)\b", re.I)),
]


# Every pattern above needs one of these strings: texts without any (nearly all) skip the five scans,
# which cost ~50 us per 300-character text, ~5 ms per assemble call over 100 candidates.
_TRIGGERS = ("ignore", "disregard", "forget", "override", "you are now", "act as", "new instruction", "system",
             "developer message", "jailbreak", "<|", "assistant", "send", "post", "upload", "exfiltrate")


def injection_flags(text: str) -> list[str]:
    """Names of the instruction-like patterns found in `text` (empty when none)."""
    low = text.lower()
    if not any(t in low for t in _TRIGGERS):
        return []
    return [name for name, pattern in _PATTERNS if pattern.search(text)]
