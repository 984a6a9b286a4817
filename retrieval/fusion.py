"""Fusion of ranked candidate lists: standardised scores (the default, hybrid_zscore) or reciprocal rank. Pure.

RRF score of an item = sum over retrievers r of weight_r / (k + rank_r(item)), ranks from 1.
It needs no score calibration between retrievers (BM25 and cosine live on different scales).

Z-score fusion standardises each list's raw scores ((s - mean) / std over the list) and sums them
weighted; an item a retriever did not return gets that list's lowest standardised score. Each list is
then shifted so that its lowest is 0: the same constant for every item, so the ranking is unchanged,
and every fused score is >= 0, which freshness weighting (a factor <= 1) needs to only ever lower a
score. Unlike RRF it keeps how far ahead a confident first hit is, which helps when one retriever is much
stronger than the other (BM25 over MiniLM on conversational memory: docs/retrieval.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Collection, Hashable, Mapping, Sequence

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
    return _best_first(fused, ranked_lists)


def zscore(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    *,
    weights: Mapping[str, float] | None = None,
    exhausted: Collection[str] = (),
) -> list[Fused]:
    """Fuse lists of (key, raw score), each best-first, by weighted standardised scores, best-first.

    A list named in `exhausted` returned every item that scores at all (BM25 asked for 50 and found 3):
    an item it lacks scores 0 there, and is counted as such in its mean and spread. Without that, a
    keyword list of one exact match (an identifier, an error code) has no spread and would add nothing.
    Ties are broken as in `rrf`: best single rank, then the order of the retrievers given.
    """
    fused, scores = _collect(ranked_lists)
    standard: dict[str, dict[Hashable, float]] = {}
    missing: dict[str, float] = {}
    for name, seen in scores.items():
        if not seen:
            continue
        values = list(seen.values())
        if name in exhausted:
            values += [0.0] * (len(fused) - len(seen))
        _, std = _mean_std(values)
        lowest = min(values)
        # (s - mean) / std minus the lowest standardised score: (s - lowest) / std
        standard[name] = {k: (v - lowest) / std if std > 0 else 0.0 for k, v in seen.items()}
        missing[name] = (0.0 - lowest) / std if std > 0 and name in exhausted else 0.0
    for f in fused.values():
        f.score = sum(_weight(weights, name) * standard[name].get(f.key, missing[name]) for name in standard)
    return _best_first(fused, ranked_lists)


def minmax(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    *,
    weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Convex combination of scores scaled to [0, 1] per list (missing = 0), best-first."""
    fused, scores = _collect(ranked_lists)
    scaled: dict[str, dict[Hashable, float]] = {}
    for name, seen in scores.items():
        if seen:
            lo, hi = min(seen.values()), max(seen.values())
            scaled[name] = {k: (v - lo) / (hi - lo) if hi > lo else 1.0 for k, v in seen.items()}
    for f in fused.values():
        f.score = sum(_weight(weights, name) * scaled[name].get(f.key, 0.0) for name in scaled)
    return _best_first(fused, ranked_lists)


def _weight(weights: Mapping[str, float] | None, name: str) -> float:
    return 1.0 if weights is None else float(weights.get(name, 1.0))


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _collect(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
) -> tuple[dict[Hashable, Fused], dict[str, dict[Hashable, float]]]:
    """Every item once with its rank per retriever, and each list's raw scores by key (first listing wins)."""
    fused: dict[Hashable, Fused] = {}
    scores: dict[str, dict[Hashable, float]] = {}
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
        scores[name] = seen
    return fused, scores


def _best_first(fused: dict[Hashable, Fused], ranked_lists: Mapping[str, Sequence[Any]]) -> list[Fused]:
    """Best score first; ties by the best single rank, then the order of the retrievers given."""
    order = {name: i for i, name in enumerate(ranked_lists)}

    def tiebreak(f: Fused) -> tuple[float, int, int]:
        best = min(f.by_retriever.items(), key=lambda kv: (kv[1].rank, order[kv[0]]))
        return (-f.score, best[1].rank, order[best[0]])

    return sorted(fused.values(), key=tiebreak)


def confidence(scores: Sequence[float]) -> float:
    """How far a list's top score stands above the list, in standard deviations (0 if flat)."""
    if len(scores) < 2:
        return 0.0
    mean, std = _mean_std(scores)
    return (scores[0] - mean) / std if std > 0 else 0.0


def adaptive_weights(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    weights: Mapping[str, float],
    *,
    how: str = "conf",
    alpha: float = 1.0,
    top: int = 10,
) -> dict[str, float]:
    """Per-query weights: each base weight times (its list's confidence / the mean confidence)^alpha
    ("conf"), or the vector weight times (0.5 + top-`top` overlap of the two lists)^alpha ("overlap")."""
    out = {name: float(weights.get(name, 1.0)) for name in ranked_lists}
    if how == "conf":
        conf = {n: confidence([s for _, s in items]) for n, items in ranked_lists.items() if out[n] > 0}
        mean = sum(conf.values()) / len(conf) if conf else 0.0
        if mean > 0:
            for n, c in conf.items():
                out[n] *= (max(c, 0.0) / mean) ** alpha
    elif how == "overlap" and "vector" in ranked_lists and "keyword" in ranked_lists:
        a = {k for k, _ in ranked_lists["vector"][:top]}
        b = {k for k, _ in ranked_lists["keyword"][:top]}
        out["vector"] *= (0.5 + len(a & b) / top) ** alpha
    return out


def fuse(
    ranked_lists: Mapping[str, Sequence[tuple[Hashable, float]]],
    *,
    method: str = "rrf",
    k: float = DEFAULT_RRF_K,
    weights: Mapping[str, float] | None = None,
    adapt: str = "",
    alpha: float = 0.0,
    exhausted: Collection[str] = (),
) -> list[Fused]:
    """One entry point for the strategies: `method` rrf | zscore | minmax, weights made per-query by
    `adaptive_weights` when `adapt` is set and alpha > 0; `exhausted`: see `zscore`."""
    w = {name: 1.0 for name in ranked_lists} | dict(weights or {})
    if adapt and alpha > 0:
        w = adaptive_weights(ranked_lists, w, how=adapt, alpha=alpha)
    if method == "rrf":
        return rrf(ranked_lists, k=k, weights=w)
    if method == "zscore":
        return zscore(ranked_lists, weights=w, exhausted=exhausted)
    if method == "minmax":
        return minmax(ranked_lists, weights=w)
    raise ValueError(f"unknown fusion method {method!r}")
