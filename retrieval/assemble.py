"""POST /context/assemble: gather candidates from every tier, pack them; `write_trace` leaves the trace.

I/O shell around the pure parts (budget, fusion, dedup, packing, trust). Task data and keyword
search run on a second connection while the query is embedded; then vector search; then packing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import psycopg

from agentmem.core.database import as_array
from agentmem.core.snapshot import read_snapshot
from agentmem.core.tokens import count_tokens
from agentmem.memory.namespaces import Principal
from agentmem.memory.task_context import TaskEntry as _Entry
from agentmem.memory.task_context import older_relevant, pinned_and_recent
from agentmem.retrieval import traces
from agentmem.retrieval.budget import Reserve, check_reserve, depth_for_budget
from agentmem.retrieval.dedup import near_duplicates
from agentmem.retrieval.expansion import (
    NO_EXPANSION, Expansion, feedback_terms, feedback_vector, fuse_rounds, with_neighbours,
)
from agentmem.retrieval.filters import Filters
from agentmem.memory.freshness import FreshnessPolicy, is_stale
from agentmem.retrieval.packing import RECENT_ALWAYS_FULL, Candidate, Dropped, Packed, Pinned, Placed, pack, shown_fields
from agentmem.memory.provenance import TrustRules, at_least, dedup_order, parse_rules, trust_of
from agentmem.retrieval.filters import TrustFloor
from agentmem.retrieval.neighbours import neighbour_hits
from agentmem.retrieval.search import (
    Hit, QueryEmbedder, QueryVector, Result, SearchPlan, Timings, active_model_and_size, keyword_hits, run_search,
    vector_hits, with_freshness,
)
from agentmem.retrieval.strategies import for_namespace
from agentmem.retrieval.trust import UNTRUSTED, injection_flags

log = logging.getLogger("agentmem.assemble")

RECENT_ENTRIES = 50  # newest scratchpad entries always considered
RELEVANT_OLDER = 20  # plus this many older ones, by similarity to the query


@dataclass(frozen=True)
class AssembleRequest:
    query: str
    budget_tokens: int
    task_id: uuid.UUID | None = None
    reserve: Reserve = Reserve()
    filters: Filters = Filters()
    strategy: str | None = None  # by name; None: the namespace's default (PUT /settings/retrieval)
    as_messages: bool = False
    exclude_flagged: bool = False
    min_trust: str | None = None  # leave out items below this level (memory/provenance.py); None: all
    trace_id: uuid.UUID | None = None  # None: a fresh one (the API passes the request's OpenTelemetry trace id)


@dataclass
class Assembled:
    trace_id: uuid.UUID
    packed: Packed
    items: dict[str, list[dict[str, Any]]]
    dropped: list[Dropped]
    timings: dict[str, float]
    started: float = 0.0  # perf_counter at the start, and of each stage's first start: for tracing spans
    stages_started: dict[str, float] = field(default_factory=dict)
    pinned_origin: str = "operator"  # agent: the task was set by an agent key, and is shown apart


def _task_context(conn: psycopg.Connection[Any], who: Principal, task_id: uuid.UUID) -> tuple[Pinned, list[_Entry]]:
    task, entries = pinned_and_recent(conn, who.namespace_id, task_id, RECENT_ENTRIES)
    return Pinned(goal=task.goal, constraints=task.constraints, items=task.items, set_by=task.set_by), entries


def _older_relevant(
    conn: psycopg.Connection[Any], task_id: uuid.UUID, before_seq: int, qvec: QueryVector
) -> list[_Entry]:
    return older_relevant(conn, task_id, before_seq, qvec.vector, qvec.model.id, RELEVANT_OLDER)


def compact_citation(citations: list[dict[str, Any]]) -> str:
    if not citations:
        return "unsourced"
    c = citations[0]
    text = str(c.get("source", ""))
    if c.get("locator"):
        text += f"#{c['locator']}"
    if len(citations) > 1:
        text += f" (+{len(citations) - 1} more)"
    return "source: " + text


def _scratch_candidates(entries: list[_Entry], qvec: np.ndarray, vectors: dict[uuid.UUID, np.ndarray],
                        rules: TrustRules) -> list[Candidate]:
    """`vectors`: each entry's vector by the query's model. An entry's trust: by its origin alone."""
    newest = sorted({e.seq for e in entries}, reverse=True)[:RECENT_ALWAYS_FULL]
    out = []
    for e in entries:
        vector = vectors.get(e.id)
        score = float(np.dot(vector, qvec)) if vector is not None else 0.0
        label = f"step {e.step}" if e.step is not None else f"entry {e.seq}"
        out.append(Candidate(
            id=str(e.id), tier="scratchpad", kind=e.kind, text=e.content, tokens=e.tokens,
            cite=f"{label}, {compact_citation(e.citations)}", order=e.seq, score=score,
            summary=e.summary, summary_tokens=e.summary_tokens, recent=e.seq in newest,
            citations=tuple(e.citations), origin=e.origin,
            trust=trust_of(rules, None, e.origin, e.screening == "flagged"),
        ))
    return [screened(c) for c in out]


def _entry_vectors(entries: list[_Entry], qvec: QueryVector, embedder: QueryEmbedder) -> dict[uuid.UUID, np.ndarray]:
    """Each entry's vector by the query's model. An entry read across a migration's flip has the other
    model's: never compared with the query, it is embedded again here (rare, and only for this call)."""
    out = {e.id: as_array(e.embedding) for e in entries
           if e.embedding is not None and e.embedding_model_id == qvec.model.id}
    for e in entries:
        if e.id not in out:
            out[e.id] = embedder.embed(qvec.model, e.content)
    return out


def hit_trust(rules: TrustRules, hit: Hit) -> str:
    return trust_of(rules, hit.source_uri, hit.origin, hit.doc_screening == "flagged")


def _long_candidates(results: list[Result], limit: int, duplicate_cosine: float,
                     rules: TrustRules, screen: bool = True) -> tuple[list[Candidate], list[Dropped]]:
    """Of near-duplicates, the higher-trust one is kept (then the better ranked). `screen`: False leaves
    screening on read to the packer (only for what it places)."""
    results = results[:limit]
    if not results:
        return [], []
    trusts = [hit_trust(rules, r.hit) for r in results]
    dups = near_duplicates([r.hit.text for r in results], np.vstack([as_array(r.hit.embedding) for r in results]),
                           duplicate_cosine, order=dedup_order(trusts))
    out: list[Candidate] = []
    dropped: list[Dropped] = []
    for r, dup, trust in zip(results, dups, trusts, strict=True):
        cid = str(r.hit.chunk_id)
        if dup is not None:
            dropped.append(Dropped(cid, "long_term", "duplicate"))
            continue
        h = r.hit
        out.append(Candidate(
            id=cid, tier="long_term", kind=h.kind, text=h.text, tokens=h.tokens,
            cite=h.source_uri, score=r.score, source_uri=h.source_uri, freshness=r.freshness,
            trust=trust, origin=h.origin,
        ))
    return [screened(c) for c in out] if screen else out, dropped


def screened(c: Candidate) -> Candidate:
    """`c` with the screener's flags for every field the context shows of it (text, summary, kind and
    source or citation), not its text alone: a header is as good a place for an injection as a body."""
    flags: dict[str, None] = {}
    for f in shown_fields(c):
        flags.update(dict.fromkeys(injection_flags(f)))
    if not flags and not c.flags:
        return c  # the common case: nothing to change (a copy costs more than the screening's cache hit)
    return replace(c, flags=tuple(flags), trust=UNTRUSTED if flags else c.trust)  # flagged: never above


def assemble(pool: Any, embedder: QueryEmbedder, executor: Executor, exact_max: int, who: Principal,
             req: AssembleRequest, expansion: Expansion = NO_EXPANSION) -> Assembled:
    """The context for `req` within its budget. `exact_max`: Settings.exact_search_max_chunks;
    `expansion`: the second round and neighbours (Settings.assemble_*, retrieval/expansion.py)."""
    check_reserve(req.budget_tokens, req.reserve)
    strategy = depth_for_budget(for_namespace(who.retrieval, name=req.strategy), req.budget_tokens)
    started_all = time.perf_counter()
    timings = Timings()
    trace_id = req.trace_id or uuid.uuid4()

    def task_data() -> tuple[Pinned, list[_Entry]] | None:
        if req.task_id is None:
            return None
        t = time.perf_counter()
        with pool.connection() as conn, read_snapshot(conn):  # the task and its entries of one moment
            data = _task_context(conn, who, req.task_id)
        timings.add("task", t)
        return data

    task_future = executor.submit(task_data)
    policy = FreshnessPolicy.from_settings(who.freshness)
    rules = parse_rules(who.trust)
    filters = req.filters if req.min_trust is None else replace(req.filters, min_trust=TrustFloor(rules, req.min_trust))
    plan = SearchPlan(who.namespace_id, req.query, strategy, filters, exact_max, policy)
    results, qvec = run_search(pool, embedder, plan, executor, timings)
    if qvec is None:  # keyword-only strategy: the scratchpad still ranks by similarity
        t = time.perf_counter()
        with pool.connection() as conn:
            model, _ = active_model_and_size(conn, who.namespace_id, embedder.default)
        qvec = QueryVector(model, embedder.embed(model, req.query))
        timings.add("embed", t)
    if qvec is not None and results:
        results = _expanded(pool, plan, qvec, results, expansion, timings)
    task = task_future.result()

    pinned: Pinned | None = None
    scratch: list[Candidate] = []
    if task is not None:
        pinned, entries = task
        if len(entries) == RECENT_ENTRIES:
            t = time.perf_counter()
            with pool.connection() as conn:
                entries += _older_relevant(conn, req.task_id, min(e.seq for e in entries), qvec)  # type: ignore[arg-type]
            timings.add("task", t)
        scratch = _scratch_candidates(entries, qvec.vector, _entry_vectors(entries, qvec, embedder), rules)

    t = time.perf_counter()
    # Without a filter on trust or flags, only the long-term items the packer places need their flags:
    # it screens them as it goes. With one, every candidate is screened first (a flag may drop it).
    screen_first = req.min_trust is not None or req.exclude_flagged
    # the fused union of both lists; near-duplicates on the query model's own similarity scale
    longs, dropped = _long_candidates(results, 2 * strategy.candidates, qvec.model.duplicate_cosine, rules,
                                      screen=screen_first)
    # Long-term items below the minimum never came back from the retrievers (the filter is in their SQL);
    # what is left out here: scratchpad entries, and items whose screening on read lowered their trust.
    below = [Dropped(c.id, c.tier, "below_min_trust") for c in [*scratch, *longs]
             if not at_least(c.trust, req.min_trust)]
    gone = {d.id for d in below}
    scratch = [c for c in scratch if c.id not in gone]
    longs = [c for c in longs if c.id not in gone]
    filtered: list[Dropped] = list(below)
    if req.exclude_flagged:
        filtered += [Dropped(c.id, c.tier, "filtered") for c in [*scratch, *longs] if c.flags]
        gone = {d.id for d in filtered}
        scratch = [c for c in scratch if c.id not in gone]
        longs = [c for c in longs if c.id not in gone]
    packed = pack(pinned, scratch, longs, req.budget_tokens, count_tokens, req.reserve, req.as_messages,
                  screen_long=None if screen_first else screened)
    timings.add("pack", t)
    packed.dropped = [*filtered, *dropped, *packed.dropped]

    items = {
        "scratchpad": [_item(p, count_tokens(p.block), policy) for p in packed.scratchpad],
        "long_term": [_item(p, count_tokens(p.block), policy) for p in packed.long_term],
    }
    timings.ms["total"] = round((time.perf_counter() - started_all) * 1000, 3)
    return Assembled(trace_id, packed, items, packed.dropped, timings.ms, started_all, timings.first,
                     "agent" if pinned is not None and pinned.set_by is not None else "operator")


def _expanded(pool: Any, plan: SearchPlan, qvec: QueryVector, results: list[Result], exp: Expansion,
              timings: Timings) -> list[Result]:
    """Round two (the query vector moved towards round one's best hits; the query plus their words)
    fused in by rank, then the best items' neighbours right after them. Both off: round one as is."""
    now = datetime.now(timezone.utc)
    top = results[: exp.feedback_hits]
    later: list[tuple[list[Hit], float]] = []
    t = time.perf_counter()
    if top and exp.round_two_weight > 0 and plan.strategy.uses_vector():
        moved = feedback_vector(qvec.vector, [as_array(r.hit.embedding) for r in top], exp.feedback_weight)
        with pool.connection() as conn:
            _, size = active_model_and_size(conn, plan.namespace_id, qvec.model)
            later.append((vector_hits(conn, plan.namespace_id, QueryVector(qvec.model, moved),
                                      plan.strategy.candidates, plan.filters, exact=size <= plan.exact_max),
                          exp.round_two_weight))
    if top and exp.feedback_terms > 0 and exp.keyword_round_weight > 0 and plan.strategy.uses_keyword():
        extra = feedback_terms(plan.query, [r.hit.text for r in top], [r.hit.text for r in results], exp.feedback_terms)
        if extra:
            with pool.connection() as conn:
                later.append((keyword_hits(conn, plan.namespace_id, " ".join([plan.query, *extra]),
                                           plan.strategy.candidates, plan.filters), exp.keyword_round_weight))
    if later:
        by_id = {r.hit.chunk_id: r for r in results}
        new = {h.chunk_id: h for hits, _ in later for h in hits if h.chunk_id not in by_id}
        by_id |= {r.hit.chunk_id: r for r in with_freshness([Result(h, 0.0) for h in new.values()], plan.freshness, now)}
        order = fuse_rounds([r.hit.chunk_id for r in results], [([h.chunk_id for h in hits], w) for hits, w in later])
        results = [by_id[c] for c in order]
        timings.add("round_two", t)
    if exp.neighbour_anchors > 0:
        t = time.perf_counter()
        anchors = [r.hit.chunk_id for r in results[: exp.neighbour_anchors]]
        with pool.connection() as conn:
            near = neighbour_hits(conn, plan.namespace_id, qvec.model.id, anchors, exp.neighbour_window_hours,
                                  plan.filters)
        by_id = {r.hit.chunk_id: r for r in results}
        for anchor, hits in near.items():
            added = [Result(h, by_id[anchor].score) for h in hits if h.chunk_id not in by_id]  # ranked as their hit
            by_id |= {r.hit.chunk_id: r for r in with_freshness(added, plan.freshness, now)}
        order = with_neighbours([r.hit.chunk_id for r in results],
                                {a: [h.chunk_id for h in hs] for a, hs in near.items()}, exp.neighbour_anchors)
        results = [by_id[c] for c in order]
        timings.add("neighbours", t)
    return results


def _item(p: Placed, tokens: int, policy: FreshnessPolicy) -> dict[str, Any]:
    c, summarized = p.candidate, p.summarized
    item: dict[str, Any] = {
        "id": c.id, "ref": p.ref, "kind": c.kind, "text": (c.summary if summarized else c.text) or c.text, "tokens": tokens,
        "score": c.score, "trust": c.trust, "origin": c.origin, "flags": list(c.flags), "summarized": summarized,
    }
    if c.source_uri:
        item["source_uri"] = c.source_uri
    if c.citations:
        item["citations"] = list(c.citations)
    if c.freshness is not None:
        item["freshness"] = round(c.freshness, 4)
        item["stale"] = is_stale(c.freshness, policy)
    return item


def write_trace(pool: Any, who: Principal, req: AssembleRequest, a: Assembled) -> None:
    """One JSON log line per call, and the same record in assemble_traces for later lookup. The caller
    runs it after the response is sent (api/routes/retrieval.py): it is not on the request's path."""
    included = {tier: [i["id"] for i in items] for tier, items in a.items.items()}
    record = {
        "event": "context.assemble", "trace_id": str(a.trace_id), "namespace": who.namespace,
        "task_id": str(req.task_id) if req.task_id else None, "budget_tokens": req.budget_tokens,
        "tokens": a.packed.tokens, "tokens_by_tier": a.packed.section_tokens, "included": included,
        "dropped": [{"id": d.id, "tier": d.tier, "reason": d.reason} for d in a.dropped],
        "timings_ms": a.timings,
    }
    if log.isEnabledFor(logging.INFO):
        log.info(json.dumps(record))
    with pool.connection() as conn:
        traces.store(conn, who.namespace_id, a.trace_id, req.task_id, req.query, req.budget_tokens, a.packed.tokens,
                     included, record["dropped"], a.timings)
