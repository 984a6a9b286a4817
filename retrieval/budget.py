"""How a context's token budget is spent, decided here and nowhere else. Pure: no I/O.

The reserves a caller gives must fit in the budget. The task's pinned context claims its tokens
first (whole, within reserve.pinned if given, or the call fails with how many it needs); the
scratchpad gets its reserve or a share of what is left; long-term items get what the scratchpad
leaves (within reserve.long_term), and what they leave unused flows back to the scratchpad.
Retrieval looks deep enough to fill the budget. What fits in each allowance, and how it is
rendered, is packing's (retrieval/packing.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agentmem.core.errors import InvalidInput
from agentmem.retrieval.strategies import Strategy

MAX_BUDGET_TOKENS = 2_000_000  # the largest budget a call may ask for (the API's schema enforces it)
DEFAULT_SCRATCHPAD_SHARE = 0.35  # of what pinned leaves, when the caller gives no reserve
PINNED_SEPARATOR = 2  # tokens between the pinned section and the next

# Assemble looks deep enough to fill its budget: a short item (a chat turn and its citation) costs
# ~35 tokens, so 2,000 tokens hold ~55 of them. Each retriever returns budget/40 (at least 50) and
# assemble considers their whole fused union (up to twice that), so short items never run out first.
TOKENS_PER_CANDIDATE = 40
MAX_ASSEMBLE_DEPTH = 200


@dataclass(frozen=True)
class Reserve:
    """Tokens the caller sets aside per tier; None leaves the tier its default claim."""

    pinned: int | None = None
    scratchpad: int | None = None
    long_term: int | None = None


class PinnedTooLarge(InvalidInput):
    """The task's pinned context cannot be cut, so a budget too small for it is the caller's to raise."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            f"the task's pinned context needs {needed} tokens but only {available} are available; "
            f"raise budget_tokens (or reserve.pinned) to at least {needed}"
        )
        self.needed = needed
        self.available = available


def check_reserve(budget_tokens: int, reserve: Reserve) -> None:
    given = [v for v in (reserve.pinned, reserve.scratchpad, reserve.long_term) if v is not None]
    if sum(given) > budget_tokens:
        raise InvalidInput(f"reserves add up to {sum(given)} tokens, more than budget_tokens {budget_tokens}")


def depth_for_budget(strategy: Strategy, budget_tokens: int) -> Strategy:
    """The strategy with enough candidates per retriever to fill `budget_tokens` with short items."""
    depth = max(strategy.candidates, min(MAX_ASSEMBLE_DEPTH, budget_tokens // TOKENS_PER_CANDIDATE))
    return replace(strategy, candidates=depth) if depth != strategy.candidates else strategy


def after_pinned(budget: int, reserve: Reserve, pinned_tokens: int) -> int:
    """What the pinned context leaves for the other tiers; PinnedTooLarge when it does not fit."""
    cap = budget if reserve.pinned is None else min(budget, reserve.pinned)
    if pinned_tokens > cap:
        raise PinnedTooLarge(pinned_tokens, cap)
    return budget - pinned_tokens - (PINNED_SEPARATOR if pinned_tokens else 0)


def scratchpad_allowance(reserve: Reserve, remaining: int) -> int:
    allowance = reserve.scratchpad if reserve.scratchpad is not None else int(remaining * DEFAULT_SCRATCHPAD_SHARE)
    return max(0, min(allowance, remaining))


def long_term_allowance(reserve: Reserve, remaining: int, scratchpad_used: int) -> int:
    allowance = remaining - scratchpad_used
    return allowance if reserve.long_term is None else min(allowance, reserve.long_term)


def scratchpad_refill(remaining: int, long_term_used: int, scratchpad_allowed: int) -> int | None:
    """The scratchpad's second allowance: what long-term left unused, when that is more than its first
    (whole entries instead of summaries). None: no second pass."""
    leftover = remaining - long_term_used
    return leftover if leftover > scratchpad_allowed else None
