"""Probe scoring and alert decisions: pure functions over plain data, no database, no clock.

A probe is a query with the sources it must find. It is run through the same search as `/search`
and judged on the distinct sources of the top k results, in order (several chunks of one document
count once, at the rank of the best one):

    recall@k         = expected sources among them / expected sources
    reciprocal rank  = 1 / rank of the first expected source among them (0 if none is there)

A namespace's retrieval-quality score is the **mean recall@k over its probes** in one run. Its
baseline is the score of the first run on the current set of probes: adding or deleting a probe
changes what the score measures, so the next run starts a new baseline instead of comparing
different things. `POST /probes/baseline` sets it by hand (to the latest score, or a given one).

Alerts fire when a condition *starts*, not on every run while it holds, so an hourly schedule does
not repeat the same alert every hour:
- `probe_below_threshold`: a probe's recall is below `probe_below` and its previous run's was not
  (or it has no previous run);
- `score_dropped`: the score is more than `score_drop` below the baseline, and the previous score
  was not.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Sequence

DEFAULT_PROBE_BELOW = 0.5
DEFAULT_SCORE_DROP = 0.1
_EPSILON = 1e-9  # 0.8 - 0.7 is 0.10000000000000009: "more than 0.1" must not hinge on that


@dataclass(frozen=True)
class ProbeOutcome:
    """How one probe fared in one run."""

    recall: float
    reciprocal_rank: float
    found: list[str]  # distinct sources of the top k results, best first
    missing: list[str]  # expected sources not among them, in the probe's order
    expected_freshness: float | None  # mean over the expected sources that exist; None if none does


@dataclass(frozen=True)
class AlertPolicy:
    """A namespace's alert thresholds (namespaces.alerting), with the documented defaults."""

    probe_below: float = DEFAULT_PROBE_BELOW
    score_drop: float = DEFAULT_SCORE_DROP

    @classmethod
    def from_settings(cls, stored: Mapping[str, Any] | None) -> AlertPolicy:
        stored = stored or {}
        return cls(**{k: float(stored[k]) for k in ("probe_below", "score_drop") if stored.get(k) is not None})


@dataclass(frozen=True)
class Baseline:
    """The score a namespace is compared with, and the set of probes it was measured on."""

    score: float
    set_at: datetime
    how: str  # first_run: the first run on this set of probes; set: POST /probes/baseline
    probes: int
    probe_set: str  # probe_set_fingerprint of the probes behind the score

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> Baseline | None:
        if not stored or stored.get("score") is None:
            return None
        return cls(score=float(stored["score"]), set_at=datetime.fromisoformat(stored["set_at"]),
                   how=str(stored.get("how", "set")), probes=int(stored.get("probes", 0)),
                   probe_set=str(stored.get("probe_set", "")))

    def to_stored(self) -> dict[str, Any]:
        return {"score": self.score, "set_at": self.set_at.isoformat(), "how": self.how, "probes": self.probes,
                "probe_set": self.probe_set}


def probe_set_fingerprint(probe_ids: Iterable[uuid.UUID]) -> str:
    """Names a set of probes: a score is compared with a baseline only when both measured the same set."""
    joined = ",".join(sorted(str(p) for p in probe_ids))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def baseline_for(current: Baseline | None, probe_set: str) -> Baseline | None:
    """The baseline that applies to a run on `probe_set`: none if it was measured on other probes."""
    return current if current is not None and current.probe_set == probe_set else None


@dataclass(frozen=True)
class ProbeCheck:
    """What the alert decision needs to know about a probe: this run's recall and the previous one's."""

    probe_id: uuid.UUID
    query: str
    recall: float
    previous_recall: float | None
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AlertDecision:
    kind: str  # probe_below_threshold | score_dropped
    probe_id: uuid.UUID | None
    message: str
    details: dict[str, Any]


def distinct_sources(ranked: Iterable[str]) -> list[str]:
    """Sources in rank order, each once (at its best rank)."""
    return list(dict.fromkeys(ranked))


def recall_at_k(expected: Sequence[str], found: Sequence[str]) -> float:
    wanted = set(expected)
    if not wanted:
        raise ValueError("a probe needs at least one expected source")
    return len(wanted.intersection(found)) / len(wanted)


def reciprocal_rank(expected: Sequence[str], found: Sequence[str]) -> float:
    wanted = set(expected)
    return next((1.0 / rank for rank, source in enumerate(found, start=1) if source in wanted), 0.0)


def score_probe(expected: Sequence[str], ranked_sources: Sequence[str],
                freshness: Mapping[str, float]) -> ProbeOutcome:
    """Judge one run of a probe from the sources of its top k results (duplicates allowed)."""
    found = distinct_sources(ranked_sources)
    seen = set(found)
    existing = [freshness[s] for s in expected if s in freshness]
    return ProbeOutcome(
        recall=recall_at_k(expected, found),
        reciprocal_rank=reciprocal_rank(expected, found),
        found=found,
        missing=[s for s in expected if s not in seen],
        expected_freshness=sum(existing) / len(existing) if existing else None,
    )


def namespace_score(recalls: Sequence[float]) -> float | None:
    """Mean recall@k over the namespace's probes; None when it has none."""
    return sum(recalls) / len(recalls) if recalls else None


def is_below(recall: float, policy: AlertPolicy) -> bool:
    return recall < policy.probe_below - _EPSILON


def has_dropped(score: float, baseline: float | None, policy: AlertPolicy) -> bool:
    return baseline is not None and baseline - score > policy.score_drop + _EPSILON


def decide_alerts(policy: AlertPolicy, probes: Sequence[ProbeCheck], score: float | None,
                  baseline: float | None, previous_score: float | None) -> list[AlertDecision]:
    """The alerts one run raises: conditions that hold now and did not hold at the previous run."""
    alerts = []
    for p in probes:
        if is_below(p.recall, policy) and (p.previous_recall is None or not is_below(p.previous_recall, policy)):
            alerts.append(AlertDecision(
                kind="probe_below_threshold", probe_id=p.probe_id,
                message=(f"probe {p.query!r}: recall {p.recall:.2f} is below {policy.probe_below:.2f}"
                         + (f" (missing: {', '.join(p.missing[:5])})" if p.missing else "")),
                details={"probe_id": str(p.probe_id), "query": p.query, "recall": p.recall,
                         "previous_recall": p.previous_recall, "threshold": policy.probe_below,
                         "missing": p.missing},
            ))
    if score is not None and baseline is not None and has_dropped(score, baseline, policy) and (
            previous_score is None or not has_dropped(previous_score, baseline, policy)):
        alerts.append(AlertDecision(
            kind="score_dropped", probe_id=None,
            message=(f"retrieval-quality score {score:.2f} is {baseline - score:.2f} below its baseline"
                     f" {baseline:.2f} (allowed drop: {policy.score_drop:.2f})"),
            details={"score": score, "baseline": baseline, "previous_score": previous_score,
                     "drop": baseline - score, "allowed_drop": policy.score_drop},
        ))
    return alerts
