"""Retrieved content is data, never instructions: flag what looks like an injected instruction. Pure.

On read, every item is screened again with the current screener (memory/screening.py), so items
stored before the screener changed are marked too. The scan is a tripwire, not a guarantee;
everything that did not come from the task's operator is marked untrusted whatever the scan says.
"""

from __future__ import annotations

from agentmem.memory.screening import screen

TRUSTED = "trusted"
UNTRUSTED = "untrusted"


def injection_flags(text: str) -> list[str]:
    """Names of the instruction-like patterns found in `text` (empty when none)."""
    return screen(text)
