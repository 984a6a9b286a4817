"""How the token budget is spent (retrieval/budget.py), without a server."""

from __future__ import annotations

import pytest

from agentmem.core.errors import InvalidInput
from agentmem.retrieval.budget import (
    DEFAULT_SCRATCHPAD_SHARE, MAX_ASSEMBLE_DEPTH, PINNED_SEPARATOR, PinnedTooLarge, Reserve, after_pinned,
    check_reserve, depth_for_budget, long_term_allowance, scratchpad_allowance, scratchpad_refill,
)
from agentmem.retrieval.strategies import HYBRID_RRF, resolve_strategy


def test_assemble_depth_grows_with_the_budget() -> None:
    assert depth_for_budget(HYBRID_RRF, 2000) is HYBRID_RRF  # small budgets keep the strategy's depth
    assert depth_for_budget(HYBRID_RRF, 4000).candidates == 100
    assert depth_for_budget(HYBRID_RRF, 10**6).candidates == MAX_ASSEMBLE_DEPTH
    deep = resolve_strategy(base=HYBRID_RRF, candidates=300)
    assert depth_for_budget(deep, 4000).candidates == 300  # never shallower than asked


def test_reserves_must_fit_in_the_budget() -> None:
    check_reserve(100, Reserve(pinned=20, scratchpad=80))  # exactly the budget is fine
    check_reserve(100, Reserve())
    with pytest.raises(InvalidInput, match="reserves add up to 160 tokens, more than budget_tokens 100"):
        check_reserve(100, Reserve(scratchpad=80, long_term=80))


def test_pinned_claims_first_and_a_too_large_one_is_a_422_saying_what_to_raise() -> None:
    assert after_pinned(1000, Reserve(), 0) == 1000  # no pinned context: no separator either
    assert after_pinned(1000, Reserve(), 100) == 900 - PINNED_SEPARATOR
    with pytest.raises(PinnedTooLarge) as exc:
        after_pinned(1000, Reserve(pinned=50), 100)
    assert (exc.value.needed, exc.value.available) == (100, 50)
    assert isinstance(exc.value, InvalidInput) and exc.value.status_code == 422
    assert "raise budget_tokens (or reserve.pinned) to at least 100" in exc.value.message


def test_allowances_follow_the_reserves_or_the_default_share() -> None:
    assert scratchpad_allowance(Reserve(), 1000) == int(1000 * DEFAULT_SCRATCHPAD_SHARE)
    assert scratchpad_allowance(Reserve(scratchpad=300), 1000) == 300
    assert scratchpad_allowance(Reserve(scratchpad=3000), 1000) == 1000  # never more than is left
    assert long_term_allowance(Reserve(), 1000, 300) == 700
    assert long_term_allowance(Reserve(long_term=200), 1000, 300) == 200
    # What long-term leaves unused goes back to the scratchpad only when it is more than it had.
    assert scratchpad_refill(1000, 400, 350) == 600
    assert scratchpad_refill(1000, 700, 350) is None
