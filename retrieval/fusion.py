"""Fusion of ranked candidate lists: reciprocal rank (the default) or standardised scores. Pure.

RRF score of an item = sum over retrievers r of weight_r / (k + rank_r(item)), ranks from 1.
It needs no score calibration between retrievers (BM25 and cosine live on different scales),
which is why it is the default.

Z-score fusion standardises each list's raw scores ((s - mean) / std over the list) and sums them
weighted; an item a retriever did not return gets that list's lowest standardised score. Unlike
RRF it keeps how far ahead a confident first hit is, which helps when one retriever is much
stronger than the other (BM25 over MiniLM on conversational memory: docs/retrieval.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Hashable, Mapping, Sequence

DEFAULT_RRF_K = 60


@dataclass(frozen=True)
class Ranked:
    """One retriever's view of an item: its 1-based rank and raw score."""

    rank: int
    score: float


@dataclass
class Fused:
    key: Hashable
    score: float
    by_retriever: dict[str, Ranked] = field(default_factory=dict)


def rrf(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    *,
    k: float = DEFAULT_RRF_K,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Fuse lists of (key, raw score), each best-first, into one list best-first.

    Ties are broken by the best single rank, then by the order of the retrievers given, so the
    result is deterministic.
    """
    if k < 0:
        raise ValueError("rrf k must be >= 0")
    fused: dict[Hashable, Fused] = {}
    for name, items in ranked_lists.items():
        w = 1.0 if weights is None else float(weights.get(name, 1.0))
        for rank, (key, score) in enumerate(items, start=1):
            f = fused.get(key)
            if f is None:
                f = fused[key] = Fused(key=key, score=0.0)
            if name in f.by_retriever:
                continue  # a retriever listing an item twice counts once, at its best rank
            f.by_retriever[name] = Ranked(rank=rank, score=float(score))
            f.score += w / (k + rank)
    order = {name: i for i, name in enumerate(ranked_lists)}

    def tiebreak(f: Fused) -> tuple[float, int, int]:
        best = min(f.by_retriever.items(), key=lambda kv: (kv[1].rank, order[kv[0]]))
        return (-f.score, best[1].rank, order[best[0]])

    return sorted(fused.values(), key=tiebreak)


def zscore(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    *,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Fuse lists of (key, raw score), each best-first, by weighted standardised scores, best-first.

    Ties are broken as in `rrf`: best single rank, then the order of the retrievers given.
    """
    fused: dict[Hashable, Fused] = {}
    floors: dict[str, float] = {}
    standard: dict[str, dict[Hashable, float]] = {}
    for name, items in ranked_lists.items():
        seen: dict[Hashable, float] = {}
        for rank, (key, score) in enumerate(items, start=1):
            if key in seen:
                continue
            seen[key] = float(score)
            f = fused.get(key)
            if f is None:
                f = fused[key] = Fused(key=key, score=0.0)
            f.by_retriever[name] = Ranked(rank=rank, score=float(score))
        if not seen:
            continue
        mean = sum(seen.values()) / len(seen)
        std = math.sqrt(sum((v - mean) ** 2 for v in seen.values()) / len(seen))
        standard[name] = {k: (v - mean) / std if std > 0 else 0.0 for k, v in seen.items()}
        floors[name] = min(standard[name].values())
    for f in fused.values():
        f.score = sum((1.0 if weights is None else float(weights.get(name, 1.0)))
                      * standard[name].get(f.key, floors[name]) for name in standard)
    order = {name: i for i, name in enumerate(ranked_lists)}

    def tiebreak(f: Fused) -> tuple[float, int, int]:
        best = min(f.by_retriever.items(), key=lambda kv: (kv[1].rank, order[kv[0]]))
        return (-f.score, best[1].rank, order[best[0]])

    return sorted(fused.values(), key=tiebreak)
