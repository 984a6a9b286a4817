"""Probe scoring and alert decisions, as pure functions: recall@k, reciprocal rank, the namespace
score, the baseline's probe set, and alerts that fire when a condition starts."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st

from agentmem.jobs.probe_scoring import (
    AlertPolicy, Baseline, ProbeCheck, baseline_for, decide_alerts, distinct_sources, namespace_score,
    probe_set_fingerprint, recall_at_k, reciprocal_rank, score_probe,
)

P1, P2 = uuid.UUID(int=1), uuid.UUID(int=2)


def test_recall_counts_expected_sources_among_the_distinct_results() -> None:
    assert recall_at_k(["a", "b"], ["x", "a", "y"]) == 0.5
    assert recall_at_k(["a", "b"], ["b", "a"]) == 1.0
    assert recall_at_k(["a"], []) == 0.0
    with pytest.raises(ValueError):
        recall_at_k([], ["a"])


def test_reciprocal_rank_is_one_over_the_first_expected_rank() -> None:
    assert reciprocal_rank(["a", "b"], ["b", "x"]) == 1.0
    assert reciprocal_rank(["a"], ["x", "y", "a"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], ["x", "y"]) == 0.0


def test_several_chunks_of_one_source_count_once_at_their_best_rank() -> None:
    assert distinct_sources(["x", "x", "a", "x", "b"]) == ["x", "a", "b"]
    outcome = score_probe(["a", "c"], ["x", "x", "x", "a", "a"], {})
    assert outcome.found == ["x", "a"] and outcome.reciprocal_rank == 0.5  # rank 2 among sources, not 4
    assert outcome.recall == 0.5 and outcome.missing == ["c"]


def test_expected_freshness_is_the_mean_over_the_sources_that_exist() -> None:
    assert score_probe(["a", "b", "gone"], ["a"], {"a": 1.0, "b": 0.5}).expected_freshness == 0.75
    assert score_probe(["gone"], ["a"], {"a": 1.0}).expected_freshness is None


@given(expected=st.lists(st.sampled_from("abcdef"), min_size=1, unique=True),
       ranked=st.lists(st.sampled_from("abcdefgh"), max_size=20))
def test_scores_stay_in_range_and_agree(expected: list[str], ranked: list[str]) -> None:
    o = score_probe(expected, ranked, {})
    assert 0.0 <= o.recall <= 1.0 and 0.0 <= o.reciprocal_rank <= 1.0
    assert (o.recall > 0) == (o.reciprocal_rank > 0)
    assert len(o.missing) == round((1 - o.recall) * len(expected))
    assert set(o.missing).isdisjoint(o.found)


def test_namespace_score_is_the_mean_recall() -> None:
    assert namespace_score([1.0, 0.5, 0.0]) == 0.5
    assert namespace_score([]) is None


def test_policy_defaults_and_stored_settings() -> None:
    assert AlertPolicy.from_settings({}) == AlertPolicy(probe_below=0.5, score_drop=0.1)
    assert AlertPolicy.from_settings({"probe_below": 0.8, "webhook_url": "http://x"}) == AlertPolicy(0.8, 0.1)


def _check(recall: float, previous: float | None, probe: uuid.UUID = P1) -> ProbeCheck:
    return ProbeCheck(probe_id=probe, query="when does the ferry leave", recall=recall, previous_recall=previous,
                      missing=["kb://ferry"] if recall < 1 else [])


def test_a_probe_alerts_when_it_falls_below_the_threshold_not_while_it_stays_there() -> None:
    policy = AlertPolicy(probe_below=0.5)
    [alert] = decide_alerts(policy, [_check(0.0, None)], 0.0, 0.0, None)  # first run, already below
    assert alert.kind == "probe_below_threshold" and alert.probe_id == P1
    assert "0.00 is below 0.50" in alert.message and "kb://ferry" in alert.message
    assert alert.details["missing"] == ["kb://ferry"] and alert.details["previous_recall"] is None
    assert len(decide_alerts(policy, [_check(0.0, 1.0)], None, None, None)) == 1  # dropped
    assert decide_alerts(policy, [_check(0.0, 0.0)], None, None, None) == []  # still below: said already
    assert decide_alerts(policy, [_check(0.5, 1.0)], None, None, None) == []  # at the threshold is not below
    assert decide_alerts(policy, [_check(1.0, 0.0)], None, None, None) == []  # recovered
    both = decide_alerts(policy, [_check(0.0, 1.0, P1), _check(0.25, None, P2)], None, None, None)
    assert [a.probe_id for a in both] == [P1, P2]


def test_the_score_alerts_when_it_drops_more_than_the_margin_below_the_baseline() -> None:
    policy = AlertPolicy(probe_below=0.0, score_drop=0.1)
    [alert] = decide_alerts(policy, [], 0.7, 0.9, 0.9)
    assert alert.kind == "score_dropped" and alert.probe_id is None
    assert alert.details["drop"] == pytest.approx(0.2) and "0.70" in alert.message and "0.90" in alert.message
    assert decide_alerts(policy, [], 0.8, 0.9, 0.9) == []  # exactly the margin (0.9 - 0.8 < 0.1 in floats)
    assert decide_alerts(policy, [], 0.7, 0.8, 0.8) == []  # exactly the margin (0.8 - 0.7 > 0.1 in floats)
    assert decide_alerts(policy, [], 0.5, 0.9, 0.7) == []  # was already down at the previous run
    assert len(decide_alerts(policy, [], 0.5, 0.9, None)) == 1  # no previous run on these probes
    assert decide_alerts(policy, [], 0.5, None, None) == []  # no baseline yet
    assert decide_alerts(policy, [], 0.95, 0.9, 0.5) == []  # better than the baseline


def test_a_baseline_applies_only_to_the_probes_it_measured() -> None:
    a = probe_set_fingerprint([P1, P2])
    assert a == probe_set_fingerprint([P2, P1]) and a != probe_set_fingerprint([P1])
    b = Baseline(score=0.9, set_at=datetime(2026, 11, 22, tzinfo=timezone.utc), how="first_run", probes=2,
                 probe_set=a)
    assert Baseline.from_stored(b.to_stored()) == b
    assert Baseline.from_stored(None) is None and Baseline.from_stored({}) is None
    assert baseline_for(b, a) == b
    assert baseline_for(b, probe_set_fingerprint([P1])) is None  # a probe was deleted: a new baseline
    assert baseline_for(None, a) is None
