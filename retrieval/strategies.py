"""Retrieval strategies named as data, so users and benchmarks pick them by name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from agentmem.core.errors import InvalidInput
from agentmem.retrieval.fusion import DEFAULT_RRF_K


@dataclass(frozen=True)
class Strategy:
    name: str
    vector_weight: float  # 0 turns the retriever off
    keyword_weight: float
    rrf_k: float = DEFAULT_RRF_K
    candidates: int = 50  # how deep each retriever looks before fusion
    fusion: str = "rrf"  # rrf | zscore | minmax (retrieval/fusion.py)
    adapt: str = ""  # per-query weights (fusion.adaptive_weights): "" off | conf | overlap
    alpha: float = 0.0  # how strongly `adapt` moves the weights

    def uses_vector(self) -> bool:
        return self.vector_weight > 0

    def uses_keyword(self) -> bool:
        return self.keyword_weight > 0


# RRF with vectors at half weight (k = 10): the default until session 11, chosen when MiniLM was 24
# points below BM25 on LoCoMo (docs/retrieval.md, "Fusion defaults").
HYBRID_RRF = Strategy("hybrid_rrf", vector_weight=0.5, keyword_weight=1.0, rrf_k=10)
# The default (session 11): standardised scores, vectors 0.8 : keyword 1. Once the vector side left out
# the words every document has (retrieval/query_focus.py) MiniLM came within 11 points of BM25 on LoCoMo
# and passed it on NFCorpus; re-chosen on NFCorpus dev and LoCoMo 0-4 by the same rule (the larger
# smaller gain over the better single retriever): +2.0 / +2.1 points, against RRF's +1.3 / +1.5.
HYBRID_ZSCORE = Strategy("hybrid_zscore", vector_weight=0.8, keyword_weight=1.0, fusion="zscore")
DEFAULT = HYBRID_ZSCORE
VECTOR_ONLY = Strategy("vector_only", vector_weight=1.0, keyword_weight=0.0)
KEYWORD_ONLY = Strategy("keyword_only", vector_weight=0.0, keyword_weight=1.0)

STRATEGIES: Mapping[str, Strategy] = {s.name: s for s in (HYBRID_RRF, HYBRID_ZSCORE, VECTOR_ONLY, KEYWORD_ONLY)}
MODES = {"hybrid": DEFAULT, "vector": VECTOR_ONLY, "keyword": KEYWORD_ONLY}


def resolve_strategy(
    name: str | None = None,
    *,
    mode: str | None = None,
    rrf_k: float | None = None,
    weights: Mapping[str, float] | None = None,
    candidates: int | None = None,
    base: Strategy | None = None,
) -> Strategy:
    """Pick a strategy by name or mode, then apply per-request overrides (k, weights, depth)."""
    if name is not None:
        if name not in STRATEGIES:
            raise InvalidInput(f"unknown strategy {name!r}; choose one of {sorted(STRATEGIES)}")
        strategy = STRATEGIES[name]
    elif mode is not None:
        strategy = MODES[mode]
    else:
        strategy = base or DEFAULT
    changes: dict[str, float | int] = {}
    if rrf_k is not None:
        changes["rrf_k"] = rrf_k
    if candidates is not None:
        changes["candidates"] = candidates
    if weights:
        unknown = set(weights) - {"vector", "keyword"}
        if unknown:
            raise InvalidInput(f"unknown retriever weight(s) {sorted(unknown)}; use 'vector' and 'keyword'")
        if "vector" in weights and strategy.vector_weight > 0:
            changes["vector_weight"] = weights["vector"]
        if "keyword" in weights and strategy.keyword_weight > 0:
            changes["keyword_weight"] = weights["keyword"]
    return replace(strategy, **changes) if changes else strategy  # type: ignore[arg-type]


def for_namespace(defaults: Mapping[str, Any] | None, *, name: str | None = None, mode: str | None = None,
                  rrf_k: float | None = None, weights: Mapping[str, float] | None = None) -> Strategy:
    """Request choices over the namespace's stored defaults (PUT /settings/retrieval) over DEFAULT.

    Shared by /search, /context/assemble and the drift probes, so a probe measures what users get.
    """
    ns = defaults or {}
    stored_weights = {k: float(v) for k, v in (ns.get("weights") or {}).items() if v is not None}
    # An rrf_k asks for reciprocal rank fusion: with no strategy named it means hybrid_rrf (a namespace
    # that set only rrf_k while RRF was the default keeps RRF; a request's k is never silently unused).
    stored_name = ns.get("strategy") or (HYBRID_RRF.name if ns.get("rrf_k") is not None else None)
    base = resolve_strategy(stored_name, rrf_k=ns.get("rrf_k"), candidates=ns.get("candidates"),
                            weights=stored_weights or None)
    if name is None and rrf_k is not None and mode in (None, "hybrid") and base.fusion != "rrf":
        name, mode = HYBRID_RRF.name, None
    # mode "hybrid" is the namespace's own hybrid strategy when it stored one (hybrid_rrf, say)
    keeps_stored = name is None and mode == "hybrid" and base.uses_vector() and base.uses_keyword()
    if (name is not None or mode is not None) and not keeps_stored:
        # only what the namespace stored carries over: a strategy asked for by name keeps its own k
        base = resolve_strategy(name, mode=mode, rrf_k=ns.get("rrf_k"), candidates=ns.get("candidates"))
    return resolve_strategy(base=base, rrf_k=rrf_k, weights=weights)


def deep_enough(strategy: Strategy, k: int) -> Strategy:
    """The strategy with each retriever looking at least k deep, so k results can come back."""
    return resolve_strategy(base=strategy, candidates=max(strategy.candidates, k))
