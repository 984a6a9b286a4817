"""Multi-hop help for assembly: a second retrieval round and neighbour expansion. Pure: no I/O.

Questions whose evidence is spread over several items lose most: the question names one hop, the
first round finds it, and what the other hops share is with those hits, not with the question.
- A second round looks again with the query pulled towards the first round's best hits
  (pseudo-relevance feedback, Rocchio on the vectors: no extra embedding), and its list is fused
  with round one's by rank.
- Neighbours: a strong hit's adjacent passage (the chunk before or after it in its document, or for
  one-chunk items such as chat turns the item written just before or after it from the same source
  and time) often holds the rest of the answer; it is offered right after its hit.
What each costs and gains on LoCoMo is in docs/retrieval.md ("Multi-hop in assembly").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Hashable, Sequence, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Expansion:
    """Settings.assemble_* (agentmem/core/settings.py): 0 turns a part off."""

    feedback_hits: int = 0  # round two: the query vector moved towards this many best hits
    feedback_weight: float = 0.0  # how far: q + weight * mean(hits), renormalised
    round_two_weight: float = 0.0  # round two's vector list against round one's in the rank fusion
    feedback_terms: int = 0  # round two's keyword query: the query plus this many words of the hits
    keyword_round_weight: float = 0.0  # its list's weight in the rank fusion
    neighbour_anchors: int = 0  # the best this many items bring their neighbours
    neighbour_window_hours: float = 6.0  # one-chunk items this close in source time count as adjacent


NO_EXPANSION = Expansion()


def expansion_of(settings: Any) -> Expansion:
    """The service's Settings.assemble_* as an Expansion."""
    return Expansion(settings.assemble_feedback_hits, settings.assemble_feedback_weight,
                     settings.assemble_round_two_weight, settings.assemble_feedback_terms,
                     settings.assemble_keyword_round_weight, settings.assemble_neighbour_anchors,
                     settings.assemble_neighbour_window_hours)
RANK_K = 20.0  # the rank fusion's k (hybrid_rrf's when round two was measured)


def feedback_vector(query: np.ndarray, hits: Sequence[np.ndarray], weight: float) -> np.ndarray:
    """Rocchio: the unit query plus `weight` times the mean of the hits' unit vectors, renormalised."""
    q = query / (np.linalg.norm(query) or 1.0)
    if not hits or weight <= 0:
        return q
    mean = np.mean([h / (np.linalg.norm(h) or 1.0) for h in hits], axis=0)
    v = q + weight * mean
    return v / (np.linalg.norm(v) or 1.0)


def fuse_rounds(first: Sequence[K], later: Sequence[tuple[Sequence[K], float]], k: float = RANK_K) -> list[K]:
    """Round one's order fused with later rounds' lists (each with its weight) by reciprocal rank;
    round one keeps weight 1, so with weights < 1 a key only a later round found enters below round
    one's confident top."""
    score: dict[K, float] = {}
    first_seen: dict[K, int] = {}
    for keys, weight in [(first, 1.0), *later]:
        for rank, key in enumerate(keys, 1):
            score[key] = score.get(key, 0.0) + weight / (k + rank)
            first_seen.setdefault(key, len(first_seen))
    return sorted(score, key=lambda key: (-score[key], first_seen[key]))


_WORD = re.compile(r"[a-z][a-z'-]{2,}")
_STOP = frozenset("""about above after again against all also and any are aren't because been before being below
between both but can can't could did didn't does doesn't doing don't down during each few for from further had
hadn't has hasn't have haven't having her here hers herself him himself his how i'm i've into isn't it's its
itself just let's like more most much must my myself nor not now off once only other our ours ourselves out over
own really same she she's should so some such than that that's the their theirs them themselves then there
there's these they they're this those through too under until very was wasn't way we're well were weren't what
when where which while who whom why will with won't would yeah yes you you're your yours yourself yourselves
thanks thank that's great good wow one get got know think going make sure lot""".split())


def words(text: str) -> list[str]:
    return [w.strip("'-") for w in _WORD.findall(text.lower())]


def feedback_terms(query: str, top: Sequence[str], pool: Sequence[str], n: int) -> list[str]:
    """Round two's extra keywords: words of the best hits `top` that the query lacks, scored by how
    many of them hold the word times its rarity among all candidates `pool` (a local idf: no
    statistics of the namespace needed). Stop words and the query's own words are skipped."""
    asked = set(words(query))
    df_pool: dict[str, int] = {}
    for text in pool:
        for w in set(words(text)):
            df_pool[w] = df_pool.get(w, 0) + 1
    score: dict[str, float] = {}
    for text in top:
        for w in set(words(text)):
            if w in asked or w in _STOP or len(w) < 3:
                continue
            score[w] = score.get(w, 0.0) + math.log(1 + len(pool) / df_pool.get(w, 1))
    return sorted(score, key=lambda w: (-score[w], w))[:n]


@dataclass(frozen=True)
class Place:
    """Where a chunk sits: its document and position, and for one-chunk documents where and when from."""

    chunk_id: int
    document_id: object
    ord: int
    single: bool  # its document has this one chunk
    source_uri: str
    source_time: datetime | None


def source_parent(uri: str) -> str:
    """"locomo:conv-26/D1:3" -> "locomo:conv-26/": what sibling items of one source share. A bare
    scheme or host root ("kb://x", "note:42") is no parent: everything of that kind would share it."""
    cut = uri.rfind("/")
    parent = uri[: cut + 1] if cut >= 0 else ""
    return "" if parent.endswith("//") else parent


def adjacent(anchor: Place, other: Place, window_hours: float) -> bool:
    """The chunk before or after `anchor` in its document; or, when both are one-chunk items (a chat
    turn each), written next to each other from the same source parent within `window_hours`."""
    if anchor.document_id == other.document_id:
        return abs(anchor.ord - other.ord) == 1
    parent = source_parent(anchor.source_uri)
    if not (anchor.single and other.single) or parent == "" or parent != source_parent(other.source_uri):
        return False
    if anchor.source_time is None or other.source_time is None:
        return anchor.source_time is other.source_time
    return abs((anchor.source_time - other.source_time).total_seconds()) <= window_hours * 3600


def with_neighbours(order: Sequence[K], neighbours: dict[K, Sequence[K]], anchors: int) -> list[K]:
    """`order` with each of its first `anchors` keys followed by its neighbours (those not already
    placed before); a neighbour moved up is not repeated further down."""
    out: list[K] = []
    seen: set[K] = set()
    for i, key in enumerate(order):
        if key not in seen:
            out.append(key)
            seen.add(key)
        if i < anchors:  # an anchor already placed as a neighbour still brings its own
            at = out.index(key) + 1
            for n in neighbours.get(key, ()):
                if n not in seen:
                    out.insert(at, n)
                    seen.add(n)
                    at += 1
    return out
