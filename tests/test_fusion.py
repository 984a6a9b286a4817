import dataclasses

import pytest

from agentmem.core.errors import InvalidInput
from agentmem.retrieval.fusion import rrf
from agentmem.retrieval.strategies import DEFAULT, HYBRID_RRF, KEYWORD_ONLY, for_namespace, resolve_strategy


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = rrf({"vector": [("a", 0.9), ("b", 0.8)], "keyword": [("b", 7.0), ("c", 3.0)]}, k=60)
    assert [f.key for f in fused] == ["b", "a", "c"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0].by_retriever["keyword"].rank == 1 and fused[0].by_retriever["vector"].rank == 2
    assert fused[1].score == pytest.approx(1 / 61)


def test_weights_and_k() -> None:
    fused = rrf({"vector": [("a", 1.0)], "keyword": [("b", 1.0)]}, k=0, weights={"vector": 1.0, "keyword": 3.0})
    assert [f.key for f in fused] == ["b", "a"] and fused[0].score == pytest.approx(3.0)


def test_ties_are_deterministic() -> None:
    one = rrf({"vector": [("a", 1.0)], "keyword": [("b", 1.0)]})
    two = rrf({"vector": [("a", 1.0)], "keyword": [("b", 1.0)]})
    assert [f.key for f in one] == [f.key for f in two] == ["a", "b"]


def test_duplicates_in_one_list_count_once() -> None:
    fused = rrf({"vector": [("a", 1.0), ("a", 0.5)]}, k=60)
    assert len(fused) == 1 and fused[0].score == pytest.approx(1 / 61)


def test_strategies_by_name_and_overrides() -> None:
    assert resolve_strategy("keyword_only") is KEYWORD_ONLY
    assert resolve_strategy(mode="hybrid") is DEFAULT and resolve_strategy() is DEFAULT
    s = resolve_strategy("hybrid_rrf", rrf_k=10, weights={"vector": 2})
    assert (s.rrf_k, s.vector_weight, s.keyword_weight) == (10, 2, 1.0)
    # A weight never switches on a retriever the strategy does not use.
    assert resolve_strategy("keyword_only", weights={"vector": 5}).vector_weight == 0
    with pytest.raises(InvalidInput, match="unknown strategy"):
        resolve_strategy("magic")
    with pytest.raises(InvalidInput, match="unknown retriever"):
        resolve_strategy(weights={"graph": 1})


def test_zscore_keeps_a_confident_lead() -> None:
    from agentmem.retrieval.fusion import zscore

    # Keyword is sure of "a" (far ahead); vector mildly prefers "b". RRF with equal weights ranks them
    # by rank alone; z-score fusion keeps keyword's margin.
    kw = [("a", 20.0), ("b", 5.0), ("c", 4.5), ("d", 4.0)]
    vec = [("b", 0.61), ("a", 0.60), ("d", 0.59), ("c", 0.58)]
    fused = zscore({"vector": vec, "keyword": kw}, weights={"vector": 0.3, "keyword": 0.7})
    assert fused[0].key == "a" and fused[0].by_retriever["keyword"].rank == 1
    # An item one retriever missed gets that list's lowest standard score, not a bonus.
    only_kw = zscore({"vector": [("x", 0.9), ("y", 0.1)], "keyword": [("z", 3.0), ("x", 1.0)]})
    assert [f.key for f in only_kw][0] == "x"
    assert zscore({"vector": [("a", 0.5), ("b", 0.5)]})[0].score == 0.0  # no spread: no preference


def test_zscore_ranks_by_the_standardised_sum_with_scores_never_negative() -> None:
    from agentmem.memory.freshness import weighted
    from agentmem.retrieval.fusion import zscore

    # standardised: vector a sqrt(1.5), b 0, c -sqrt(1.5); keyword c 1, d -1 (a missing item: the list's lowest)
    # sum at 0.8 : 1 -> c 0.02, a -0.02, b -1.0, d -1.98: that order, shifted so the lowest list entry is 0
    fused = zscore({"vector": [("a", 0.9), ("b", 0.5), ("c", 0.1)], "keyword": [("c", 9.0), ("d", 1.0)]},
                   weights={"vector": 0.8, "keyword": 1.0})
    assert [f.key for f in fused] == ["c", "a", "b", "d"]
    assert fused[-1].score == 0.0 and all(f.score >= 0 for f in fused)
    assert fused[0].score - fused[1].score == pytest.approx(2 - 1.6 * 1.5 ** 0.5)  # c - a
    # so freshness weighting (a factor <= 1) lowers a stale result's score, never raises it
    assert all(weighted(f.score, 0.1, 1.0) <= f.score for f in fused)


def test_zscore_lets_a_lone_exact_keyword_match_count() -> None:
    from agentmem.retrieval.fusion import zscore

    # An identifier query: BM25 asked for 50, found one chunk; vectors rank it 30th of 50.
    vec = [(f"v{i}", 0.9 - i * 0.01) for i in range(50)]
    vec[29] = ("ticket", vec[29][1])
    lists = {"vector": vec, "keyword": [("ticket", 7.5)]}
    weights = {"vector": 0.8, "keyword": 1.0}
    # without knowing the list is exhausted, one score has no spread and the match adds nothing
    assert [f.key for f in zscore(lists, weights=weights)][:10] == [f"v{i}" for i in range(10)]
    found = zscore(lists, weights=weights, exhausted={"keyword"})
    assert found[0].key == "ticket"
    assert all(f.score >= 0 for f in found) and found[-1].score == 0.0
    # a list that is not exhausted is unchanged by the option when every item is in it
    full = {"vector": [("a", 0.9), ("b", 0.5)], "keyword": [("b", 3.0), ("a", 1.0)]}
    assert [(f.key, f.score) for f in zscore(full, exhausted={"keyword"})] == [(f.key, f.score) for f in zscore(full)]


def test_zscore_strategy_is_named() -> None:
    s = resolve_strategy("hybrid_zscore")
    assert s.fusion == "zscore" and (s.vector_weight, s.keyword_weight) == (0.8, 1.0)
    assert s is DEFAULT  # chosen on NFCorpus dev and LoCoMo 0-4 (docs/retrieval.md, "Fusion defaults")


def test_a_strategy_asked_for_keeps_its_own_settings_over_the_default() -> None:
    # hybrid_rrf by name is RRF at its own k, not at the default strategy's unused rrf_k
    assert for_namespace(None, name="hybrid_rrf") == HYBRID_RRF
    # what the namespace stored does carry over, and request values over that
    assert for_namespace({"strategy": "hybrid_zscore", "rrf_k": 30}, name="hybrid_rrf").rrf_k == 30
    assert for_namespace({"rrf_k": 30}, name="hybrid_rrf", rrf_k=5).rrf_k == 5
    # mode "hybrid" is the namespace's own hybrid strategy when it stored one, else the default
    assert for_namespace({"strategy": "hybrid_rrf"}, mode="hybrid") == HYBRID_RRF
    assert for_namespace({"strategy": "keyword_only"}, mode="hybrid") == DEFAULT
    assert for_namespace({"strategy": "hybrid_rrf"}, mode="vector").name == "vector_only"
    assert for_namespace(None) == DEFAULT


def test_an_rrf_k_without_a_strategy_means_rrf() -> None:
    # never silently unused under the z-score default: per request, or stored while RRF was the default
    assert for_namespace(None, rrf_k=5) == dataclasses.replace(HYBRID_RRF, rrf_k=5)
    assert for_namespace({"rrf_k": 30}) == dataclasses.replace(HYBRID_RRF, rrf_k=30)
    assert for_namespace({"strategy": "hybrid_zscore"}, mode="hybrid", rrf_k=5).fusion == "rrf"
    assert for_namespace({"rrf_k": 30, "weights": {"vector": 0.7}}).vector_weight == 0.7
    # a single retriever has nothing to fuse: the k changes nothing there
    assert for_namespace(None, mode="vector", rrf_k=5).name == "vector_only"
    assert for_namespace({"strategy": "hybrid_zscore", "rrf_k": 30}).fusion == "zscore"  # named wins


def test_minmax_scales_each_list_to_unit_range() -> None:
    from agentmem.retrieval.fusion import minmax

    fused = minmax({"vector": [("a", 0.9), ("b", 0.5)], "keyword": [("b", 30.0), ("c", 10.0)]},
                   weights={"vector": 1.0, "keyword": 1.0})
    # b: 0 + 1; a: 1 + 0 (missing); c: 0 + 0. Tie a/b broken by best rank, then retriever order.
    assert [f.key for f in fused] == ["a", "b", "c"]
    assert [f.score for f in fused] == pytest.approx([1.0, 1.0, 0.0])
    heavier_kw = minmax({"vector": [("a", 0.9), ("b", 0.5)], "keyword": [("b", 30.0), ("c", 10.0)]},
                        weights={"vector": 0.4, "keyword": 0.6})
    assert heavier_kw[0].key == "b"


def test_confidence_is_the_top_scores_lead_in_deviations() -> None:
    from agentmem.retrieval.fusion import confidence

    assert confidence([10.0, 1.0, 1.0, 1.0]) > confidence([4.0, 3.0, 2.0, 1.0]) > 0
    assert confidence([0.5, 0.5]) == 0.0 and confidence([1.0]) == 0.0


def test_adaptive_weights_favour_the_confident_list() -> None:
    from agentmem.retrieval.fusion import adaptive_weights

    lists = {"vector": [("a", 0.50), ("b", 0.49), ("c", 0.48)], "keyword": [("d", 20.0), ("e", 2.0), ("f", 1.0)]}
    w = adaptive_weights(lists, {"vector": 1.0, "keyword": 1.0}, how="conf", alpha=1.0)
    assert w["keyword"] > 1.0 > w["vector"]
    assert adaptive_weights(lists, {"vector": 1.0, "keyword": 1.0}, how="conf", alpha=0.0) == {
        "vector": 1.0, "keyword": 1.0}
    # A switched-off retriever stays off.
    assert adaptive_weights(lists, {"vector": 0.0, "keyword": 1.0}, how="conf")["vector"] == 0.0


def test_fuse_dispatches_and_rejects_unknown_methods() -> None:
    from agentmem.retrieval.fusion import fuse, rrf

    lists = {"vector": [("a", 0.9), ("b", 0.8)], "keyword": [("b", 7.0), ("c", 3.0)]}
    plain = [(f.key, f.score) for f in rrf(lists, k=20, weights={"vector": 0.5})]
    assert [(f.key, f.score) for f in fuse(lists, k=20, weights={"vector": 0.5})] == plain
    # adapt without alpha is off
    assert [(f.key, f.score) for f in fuse(lists, k=20, weights={"vector": 0.5}, adapt="conf")] == plain
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse(lists, method="magic")
