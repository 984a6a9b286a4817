"""Freshness: how far to trust that a stored document still says what its source says (the formula).

A document is confirmed against its source whenever it is upserted (created, updated, or answered
`unchanged`: `last_verified_at`). Each namespace expects its sources to be re-checked every
`refresh_interval` (30 days unless configured; a document may override it). The score:

    freshness = 0.5 ** (time since last verification / refresh interval)    in (0, 1]

1.0 when just verified, 0.5 when one interval has passed without a check (the default `stale_below`
threshold: the refresh is overdue), 0.25 after two. It is 0 when the document's vectors were not
made by the namespace's active embedding model, or no longer match its content (they must be
re-embedded before retrieval can be trusted on it).

The formula is defined for any stored value: the interval is clamped to [MIN_REFRESH_DAYS,
MAX_REFRESH_DAYS] (no division by zero) and the exponent to MAX_HALVINGS (no underflow: 0.5 ** 1000
is ~1e-301, a normal float8). The API refuses intervals outside that range; the clamp covers values
stored before it did. memory/freshness_store.py computes the same in SQL (tested against this).

As a ranking signal (`weight` w in [0, 1], 0 by default) a result's fused score is multiplied by
(1 - w + w * freshness): scale-free, so it works the same for RRF, cosine or BM25 scores, and
w = 0 leaves rankings exactly as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_REFRESH_DAYS = 30.0
DEFAULT_STALE_BELOW = 0.5
DEFAULT_WEIGHT = 0.0
SECONDS_PER_DAY = 86_400.0
MIN_REFRESH_DAYS = 1.0 / 1440.0  # one minute
MAX_REFRESH_DAYS = 36_500.0  # a hundred years
MAX_HALVINGS = 1000.0  # past this the score is ~1e-301: as good as 0, and still a normal float


def clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def safe_interval_days(days: float) -> float:
    """The refresh interval the formula uses: never 0, never so small that the exponent explodes."""
    if math.isnan(days):
        return DEFAULT_REFRESH_DAYS
    return clamp(days, MIN_REFRESH_DAYS, MAX_REFRESH_DAYS)


@dataclass(frozen=True)
class FreshnessPolicy:
    """A namespace's freshness settings (namespaces.freshness), with the documented defaults."""

    refresh_interval_days: float = DEFAULT_REFRESH_DAYS
    stale_below: float = DEFAULT_STALE_BELOW
    weight: float = DEFAULT_WEIGHT

    @classmethod
    def from_settings(cls, stored: dict[str, Any] | None) -> FreshnessPolicy:
        """Stored settings, clamped into the range the formula is defined on (older rows may lie outside)."""
        stored = stored or {}
        values = {k: float(stored[k]) for k in ("refresh_interval_days", "stale_below", "weight") if k in stored}
        if "refresh_interval_days" in values:
            values["refresh_interval_days"] = safe_interval_days(values["refresh_interval_days"])
        for k in ("stale_below", "weight"):
            if k in values:
                values[k] = clamp(values[k], 0.0, 1.0) if not math.isnan(values[k]) else getattr(cls, k)
        return cls(**values)


def freshness_score(now: datetime, last_verified_at: datetime, refresh_interval_days: float,
                    vectors_current: bool = True) -> float:
    """The formula above. Pure; the SQL in freshness_store.SCORE_SQL computes the same."""
    if not vectors_current:
        return 0.0
    age_days = max(0.0, (now - last_verified_at).total_seconds() / SECONDS_PER_DAY)
    return math.pow(0.5, min(age_days / safe_interval_days(refresh_interval_days), MAX_HALVINGS))


def is_stale(score: float, policy: FreshnessPolicy) -> bool:
    return score < policy.stale_below


def weighted(score: float, freshness: float, weight: float) -> float:
    """A ranking score adjusted by freshness: unchanged at weight 0, scaled by freshness at weight 1."""
    return score * (1.0 - weight + weight * freshness)
