"""Pack the context into a token budget. Pure: no I/O.

Each tier's allowance is the budget's (retrieval/budget.py). Within it: the task's pinned context
whole, the scratchpad's recent and relevant step results (older ones as their short summary when
space is tight), then long-term items by fused relevance without near-duplicates. The returned
text's exact token count never exceeds the budget: estimates guide the packing, an exact count of
the rendered text decides. How each item is written (and why nothing stored can break out of its
data block) is retrieval/render.py's.
"""

from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Callable, Sequence

from agentmem.retrieval import render
from agentmem.retrieval.budget import Reserve, after_pinned, long_term_allowance, scratchpad_allowance, scratchpad_refill
from agentmem.retrieval.render import LONG_HEADER, SCRATCH_HEADER
from agentmem.retrieval.trust import TRUSTED, UNTRUSTED

RECENT_ALWAYS_FULL = 3  # the newest steps are shown whole while they fit


@dataclass(frozen=True)
class Pinned:
    goal: str
    constraints: Sequence[str]
    items: Sequence[tuple[str, str]]  # (label, text)
    set_by: str | None = None  # None: the operator; else the label of the agent key that set the task


@dataclass(frozen=True)
class Candidate:
    """A scratchpad entry or long-term item that may go into the context."""

    id: str
    tier: str  # scratchpad | long_term
    kind: str
    text: str
    tokens: int  # stored token count of `text`
    cite: str  # compact citation shown inline
    order: int = 0  # display order within its tier (scratchpad: seq)
    score: float | None = None
    summary: str | None = None
    summary_tokens: int | None = None
    recent: bool = False  # among the task's newest steps
    flags: tuple[str, ...] = ()
    citations: tuple[dict[str, object], ...] = ()
    source_uri: str | None = None
    freshness: float | None = None  # long-term items: memory/freshness.py
    trust: str = UNTRUSTED  # shown in the item's header (memory/provenance.py)
    origin: str | None = None  # as its writer declared


def shown_fields(c: Candidate) -> tuple[str, ...]:
    """Every stored string the context may show of `c` (its header and its text): what the screener reads."""
    return tuple(f for f in (c.text, c.summary, c.kind, c.cite) if f)


@dataclass(frozen=True)
class Placed:
    candidate: Candidate
    summarized: bool
    block: str
    tokens: int  # estimate used for packing; the section and total counts are exact
    ref: str  # the short reference the line starts with; the response maps it to the item's id
    source_base: str | None = None  # long-term: the source prefix written once as "~" (see source_base)


@dataclass(frozen=True)
class Dropped:
    id: str
    tier: str
    reason: str  # budget | duplicate | filtered | below_min_trust


@dataclass
class Packed:
    text: str | list[dict[str, str]]
    tokens: int
    pinned_text: str
    pinned_tokens: int
    scratchpad: list[Placed] = field(default_factory=list)
    long_term: list[Placed] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    section_tokens: dict[str, int] = field(default_factory=dict)
    nonce: str = ""  # the data blocks' delimiter nonce of this call


def render_pinned(p: Pinned) -> str:
    return render.render_pinned(p.goal, p.constraints, p.items, p.set_by)


def scratch_ref(c: Candidate) -> str:
    return f"S{c.order}"


def long_ref(position: int) -> str:
    return f"M{position}"


def scratch_block(c: Candidate, summarized: bool, text: str | None = None) -> str:
    """`text`: written instead of the item's own ("" gives the header alone, to count its tokens)."""
    if text is None:
        text = (c.summary if summarized and c.summary else c.text).strip()
    ref = ("summary of " if summarized else "") + scratch_ref(c)
    return render.item(ref, c.trust, c.flags, c.kind, render.source_field(c.cite), text)


def long_block(c: Candidate, ref: str, base: str | None = None, text: str | None = None) -> str:
    """One compact line per item: every token of framing is a token less of evidence. The line
    starts with a short reference (M1, M2, ...; a UUID costs ~25 tokens, as much as a chat turn),
    the item's trust and the source to cite; the response's items map each reference to the item's id.
    `text`: written instead of the item's own ("" gives the header alone)."""
    kind = None if c.kind == "document" else c.kind
    return render.item(ref, c.trust, c.flags, kind, render.source_field(c.cite, base),
                       c.text.strip() if text is None else text)


BASE_MIN_CHARS = 12  # a shorter prefix saves too little to be worth a legend
BASE_MIN_ITEMS = 3


def source_base(cites: Sequence[str]) -> str | None:
    """The source prefix most items share ("locomo:conv-26/", "https://wiki.example/space/"), written
    once in the block's legend instead of on every line: ~5 tokens a line, as much as 15% of a short
    item. A prefix ends at a "/" or ":" of the source; the one that saves the most characters wins."""
    counts: dict[str, int] = {}
    for cite in cites:
        if "~" in cite:
            continue
        for cut, ch in enumerate(cite[:-1]):
            if ch in "/:" and cut + 1 >= BASE_MIN_CHARS:
                prefix = cite[: cut + 1]
                counts[prefix] = counts.get(prefix, 0) + 1
    shared = {b: n for b, n in counts.items() if n >= BASE_MIN_ITEMS}
    if not shared:
        return None
    return max(shared, key=lambda b: (shared[b] * len(b), b))  # the most characters saved


def _estimate(block_overhead: int, text: str, body_tokens: int) -> int:
    # +2: the separator and a boundary merge of slack; +1 per line break: the indent after it
    return block_overhead + body_tokens + render.line_breaks(text) + 2


def scratch_section(placed: Sequence[Placed], nonce: str) -> str:
    return render.data_block(SCRATCH_HEADER, nonce, [p.block for p in placed])


def long_section(placed: Sequence[Placed], nonce: str) -> str:
    legend = render.legend(placed[0].source_base if placed else None)
    return render.data_block(LONG_HEADER, nonce, [*([legend] if legend else []), *(p.block for p in placed)])


def _pack_scratchpad(
    cands: Sequence[Candidate], allowance: int, count: Callable[[str], int], nonce: str
) -> tuple[list[Placed], list[Candidate]]:
    """Newest steps first (whole while they fit), then the most relevant; summaries when tight."""
    if not cands or allowance <= 0:
        return [], list(cands)
    header = count(scratch_section([], nonce)) + 2
    recent = sorted((c for c in cands if c.recent), key=lambda c: -c.order)
    rest = sorted((c for c in cands if not c.recent), key=lambda c: (-(c.score or 0.0), -c.order))
    full_cost = {c.id: _estimate(count(scratch_block(c, False, "")), c.text, c.tokens) for c in cands}
    tight = header + sum(full_cost.values()) > allowance
    used = header
    placed: list[Placed] = []
    left: list[Candidate] = []
    for c in [*recent, *rest]:
        options: list[bool] = []  # summarized?
        if tight and c.summary and not c.recent:
            options = [True]
        else:
            options = [False, True] if c.summary else [False]
        for summarized in options:
            body, text = (c.summary_tokens, c.summary or "") if summarized else (c.tokens, c.text)
            cost = _estimate(count(scratch_block(c, summarized, "")), text, body or 0)
            if used + cost <= allowance:
                placed.append(Placed(c, summarized, scratch_block(c, summarized), cost, scratch_ref(c)))
                used += cost
                break
        else:
            left.append(c)
    if not placed:
        return [], list(cands)
    placed.sort(key=lambda p: p.candidate.order)  # shown in the order the steps happened
    return placed, left


def _long_frame(base: str | None, nonce: str) -> str:
    legend = render.legend(base)
    return render.data_block(LONG_HEADER, nonce, [legend] if legend else [])


def _pack_long_term(
    cands: Sequence[Candidate], allowance: int, count: Callable[[str], int], nonce: str,
    screen: Callable[[Candidate], Candidate] | None = None,
) -> tuple[list[Placed], list[Candidate]]:
    if not cands or allowance <= 0:
        return [], list(cands)
    base = source_base([c.cite for c in cands])
    used = count(_long_frame(base, nonce)) + 2
    placed: list[Placed] = []
    left: list[Candidate] = []
    for c in cands:  # already best-first
        if used + c.tokens + 2 > allowance:  # its text alone cannot fit: no need to count its header
            left.append(c)
            continue
        if screen is not None:
            c = screen(c)  # its flags are in its header: screened before its cost is counted
        ref = long_ref(len(placed) + 1)
        cost = _estimate(count(long_block(c, ref, base, "")), c.text, c.tokens)
        if used + cost <= allowance:
            placed.append(Placed(c, False, long_block(c, ref, base), cost, ref, base))
            used += cost
        else:
            left.append(c)
    if not placed:
        return [], list(cands)
    return placed, left


def _used(placed: Sequence[Placed], frame: str, count: Callable[[str], int]) -> int:
    return count(frame) + 2 + sum(p.tokens for p in placed) if placed else 0


def _sections(scratch: Sequence[Placed], long_term: Sequence[Placed], nonce: str) -> list[str]:
    return ([scratch_section(scratch, nonce)] if scratch else []) + ([long_section(long_term, nonce)] if long_term else [])


def measure(rendered: str | list[dict[str, str]], count: Callable[[str], int]) -> int:
    """Exact tokens of what is returned: the text, or the sum of the messages' contents."""
    if isinstance(rendered, str):
        return count(rendered)
    return sum(count(m["content"]) for m in rendered)


def pack(
    pinned: Pinned | None,
    scratchpad: Sequence[Candidate],
    long_term: Sequence[Candidate],
    budget: int,
    count: Callable[[str], int],
    reserve: Reserve = Reserve(),
    as_messages: bool = False,
    nonce: str | None = None,
    screen_long: Callable[[Candidate], Candidate] | None = None,
) -> Packed:
    """`nonce`: the data blocks' delimiter nonce, drawn afresh when None (give one for reproducible
    output; it is drawn again if anything shown contains it). `screen_long`: applied to a long-term
    candidate when it is about to be placed (None: they come screened). Screening on read costs
    ~0.25 ms a chunk; of ~100 candidates a budget reaches ~15, so the rest are never screened."""
    # The same string is often counted twice (with only long-term items, the text is the long-term
    # section): count each distinct string once, ~1 ms per 2,000 tokens.
    count = functools.lru_cache(maxsize=256)(count)
    pinned_text = render_pinned(pinned) if pinned else ""
    shown = [pinned_text, *(f for c in [*scratchpad, *long_term] for f in shown_fields(c))]
    nonce = render.new_nonce(shown) if nonce is None else render.usable_nonce(nonce, shown)
    pinned_tokens = count(pinned_text) if pinned_text else 0
    remaining = after_pinned(budget, reserve, pinned_tokens)
    if scratchpad or long_term:  # the preamble saying how to read data blocks comes with them
        remaining = max(0, remaining - count(render.preamble(nonce)) - 2)
    scratch_allow = scratchpad_allowance(reserve, remaining)
    scratch, _ = _pack_scratchpad(scratchpad, scratch_allow, count, nonce)
    long_allow = long_term_allowance(reserve, remaining, _used(scratch, scratch_section([], nonce), count))
    longs, _ = _pack_long_term(long_term, long_allow, count, nonce, screen_long)
    long_frame = _long_frame(longs[0].source_base if longs else None, nonce)
    refill = scratchpad_refill(remaining, _used(longs, long_frame, count), scratch_allow)
    if refill is not None:
        scratch, _ = _pack_scratchpad(scratchpad, refill, count, nonce)

    render_as = render.render_messages if as_messages else render.render_text
    text = render_as(pinned_text, _sections(scratch, longs, nonce), nonce)
    tokens = measure(text, count)
    while tokens > budget and (longs or scratch):
        # Estimates were short (rare): give up the least valuable item and count again.
        if longs:
            longs = longs[:-1]
        else:
            worst = min(scratch, key=lambda p: (p.candidate.recent, p.candidate.score or 0.0))
            scratch = [p for p in scratch if p is not worst]
        text = render_as(pinned_text, _sections(scratch, longs, nonce), nonce)
        tokens = measure(text, count)
    kept = {p.candidate.id for p in [*scratch, *longs]}
    dropped = [Dropped(c.id, c.tier, "budget") for c in [*scratchpad, *long_term] if c.id not in kept]
    sections = {
        "pinned": pinned_tokens,
        "scratchpad": count(scratch_section(scratch, nonce)) if scratch else 0,
        "long_term": count(long_section(longs, nonce)) if longs else 0,
    }
    return Packed(text, tokens, pinned_text, pinned_tokens, scratch, longs, dropped, sections, nonce)


def trust_of(tier: str) -> str:
    return TRUSTED if tier == "pinned" else UNTRUSTED
