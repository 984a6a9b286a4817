"""Hybrid retrieval over a namespace's chunks: vector (pgvector) and keyword (BM25), fused by RRF.

Vector search is exact below `exact_max` chunks in the namespace (a scan of a small namespace is
cheap and has recall 1.0) and uses the model's HNSW index with an iterative scan above it, so
namespace and metadata filters do not starve the result list (hnsw.iterative_scan is set on every
pooled connection). Both retrievers return hydrated rows, so a search costs one round trip each.

The query is embedded by the namespace's active model, and only that model's vectors are compared
with it. The model id and dimension are inlined as literals: the per-model partial index
(`WHERE embedding_model_id = 7`, on `embedding::vector(384)`) is only used when the query repeats
its predicate and expression as constants, which a bind parameter in a generic plan is not.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import numpy as np
import psycopg
from psycopg import sql
from psycopg.rows import class_row

from agentmem.embeddings.models import HNSW_MAX_DIMENSION, Model
from agentmem.embeddings.registry import Embedders
from agentmem.memory.freshness import FreshnessPolicy, freshness_score, weighted
from agentmem.memory.namespaces import Principal
from agentmem.retrieval import doc_bm25, fusion
from agentmem.retrieval.filters import NO_FILTERS, Filters, where
from agentmem.retrieval.fusion import Ranked
from agentmem.retrieval.query_focus import WordCache, focused_query
from agentmem.retrieval.strategies import Strategy, deep_enough, for_namespace
from agentmem.retrieval.units import DOCUMENT_DEPTH, by_document

HIT_COLUMNS = (
    "c.id AS chunk_id, c.document_id, d.source_uri, d.title, c.kind, c.text, c.tokens, d.metadata,"
    " c.source_updated_at, c.embedding, d.last_verified_at,"
    " extract(epoch FROM d.refresh_interval)::float8 / 86400.0 AS refresh_interval_days,"
    " d.origin, d.screening AS doc_screening"
)


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: uuid.UUID
    source_uri: str
    title: str | None
    kind: str
    text: str
    tokens: int
    metadata: dict[str, Any]
    source_updated_at: datetime | None
    embedding: np.ndarray
    last_verified_at: datetime
    refresh_interval_days: float | None  # the document's own; None: the namespace's
    origin: str  # as its writer declared (memory/provenance.py)
    doc_screening: str  # the document's screening state: a flagged one is never above untrusted
    score: float  # the retriever's own score: cosine similarity or BM25


@dataclass
class Result:
    hit: Hit
    score: float  # fused (and weighted by freshness when the namespace asks for it)
    by_retriever: dict[str, Ranked] = field(default_factory=dict)
    freshness: float | None = None


@dataclass
class Timings:
    ms: dict[str, float] = field(default_factory=dict)
    first: dict[str, float] = field(default_factory=dict)  # when each stage first started (perf_counter)

    def add(self, stage: str, started: float) -> None:
        self.ms[stage] = round(self.ms.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 3)
        self.first.setdefault(stage, started)


@dataclass(frozen=True)
class QueryVector:
    model: Model
    vector: np.ndarray


@dataclass(frozen=True)
class QueryEmbedder:
    """The query's model is the namespace's active one (`default` when it has none yet)."""

    default: Model
    embed: Callable[[Model, str], np.ndarray]
    common_words: WordCache | None = None  # the process's answers of retrieval/query_focus.py, if kept


def query_embedder(embedders: Embedders, default: Model, common_words: WordCache | None = None) -> QueryEmbedder:
    return QueryEmbedder(default, lambda model, text: embedders.get(model.name, model.version).embed(
        [text], query=True)[0], common_words)


def active_model_and_size(conn: psycopg.Connection[Any], namespace_id: int, default: Model) -> tuple[Model, int]:
    """The namespace's active model and its number of chunks, in one round trip."""
    row = conn.execute(
        "SELECT m.id, m.name, m.version, m.dimension, coalesce(s.chunks, 0) FROM namespaces n"
        " LEFT JOIN embedding_models m ON m.id = n.active_model_id"
        " LEFT JOIN namespace_stats s ON s.namespace_id = n.id WHERE n.id = %(ns)s",
        {"ns": namespace_id},
    ).fetchone()
    if row is None or row[0] is None:
        return default, int(row[4]) if row else 0
    return Model(row[0], row[1], row[2], row[3]), int(row[4])


def vector_hits(
    conn: psycopg.Connection[Any], namespace_id: int, query: QueryVector, n: int,
    filters: Filters = NO_FILTERS, *, exact: bool,
) -> list[Hit]:
    """Top-n chunks of the query's model by cosine similarity; `exact` scans instead of walking HNSW."""
    statement, params = vector_query(namespace_id, query, n, filters, exact=exact)
    return conn.cursor(row_factory=class_row(Hit), binary=True).execute(statement, params).fetchall()


def vector_query(namespace_id: int, query: QueryVector, n: int, filters: Filters = NO_FILTERS, *,
                 exact: bool) -> tuple[sql.Composed, dict[str, Any]]:
    """The SQL of vector_hits (and its parameters), apart so that a test can EXPLAIN it."""
    cond, params = where(filters)
    model = query.model
    cond = sql.SQL(" AND c.embedding_model_id = {id}").format(id=sql.Literal(model.id)) + cond
    params |= {"ns": namespace_id, "q": query.vector, "n": n}
    exact = exact or model.dimension > HNSW_MAX_DIMENSION
    # Both paths rank ids by distance first and hydrate only the top n (joining documents for every
    # scanned row cost more than the distances at a few hundred chunks).
    if exact:
        # "+ 0" makes the ordering unservable by the HNSW index: the planner scans and sorts.
        distance = sql.SQL("c.embedding <=> %(q)s")
        order = sql.SQL("({distance}) + 0, c.id").format(distance=distance)
    else:
        # The same expression as the model's index: embeddings.models.ensure_index.
        distance = sql.SQL("(c.embedding::vector({dim})) <=> %(q)s").format(dim=sql.Literal(model.dimension))
        order = distance
    statement = sql.SQL(
        "WITH nn AS (SELECT c.id, {distance} AS distance FROM chunks c"
        " WHERE c.namespace_id = %(ns)s{cond} ORDER BY {order} LIMIT %(n)s)"
        " SELECT {cols}, 1 - nn.distance AS score FROM nn JOIN chunks c ON c.id = nn.id"
        " JOIN documents d ON d.id = c.document_id ORDER BY nn.distance, c.id"
    ).format(cols=sql.SQL(HIT_COLUMNS), cond=cond, distance=distance, order=order)
    return statement, params


def keyword_hits(
    conn: psycopg.Connection[Any], namespace_id: int, query_text: str, n: int, filters: Filters = NO_FILTERS,
    unit: str = "chunk", params: doc_bm25.DocParams = doc_bm25.DOC_PARAMS,
) -> list[Hit]:
    """Top-n chunks (or documents, each by its best chunk) by document BM25F plus passage BM25
    (retrieval/doc_bm25.py); statistics over the whole namespace, filters on the chunks.

    A chunk is a candidate when it matches a query term or is its document's best passage (a
    document may match by its title alone). Only the top n are hydrated.
    """
    cond, fparams = where(filters)
    values = fparams | doc_bm25.params_of(params, n) | {"ns": namespace_id, "query": query_text}
    pick = sql.SQL("r.best") if unit == "document" else sql.SQL("(r.best OR r.passage > 0)")
    query = doc_bm25.candidates_sql(cond, not filters.is_empty(), unit) + sql.SQL(
        ", top AS (SELECT r.chunk_id, r.score FROM ranked r WHERE {pick} ORDER BY r.score DESC, r.chunk_id LIMIT %(n)s)"
        " SELECT {cols}, t.score FROM top t JOIN chunks c ON c.id = t.chunk_id"
        " JOIN documents d ON d.id = c.document_id ORDER BY t.score DESC, c.id"
    ).format(cols=sql.SQL(HIT_COLUMNS), pick=pick)
    return conn.cursor(row_factory=class_row(Hit), binary=True).execute(query, values).fetchall()


def fuse(strategy: Strategy, vector: list[Hit], keyword: list[Hit], unit: str = "chunk") -> list[Result]:
    """RRF (or z-score) over chunks, or over documents: then the vector list is first aggregated per
    document (units.by_document) and a document is shown by its keyword list's best chunk if any."""
    key = (lambda h: h.document_id) if unit == "document" else (lambda h: h.chunk_id)
    if unit == "document":
        vector = by_document(vector)
    by_id = {key(h): h for h in [*vector, *keyword]}  # keyword's chunk wins
    lists: dict[str, list[tuple[Any, float]]] = {}
    if strategy.uses_vector():
        lists["vector"] = [(key(h), h.score) for h in vector]
    if strategy.uses_keyword():
        lists["keyword"] = [(key(h), h.score) for h in keyword]
    weights = {"vector": strategy.vector_weight, "keyword": strategy.keyword_weight}
    # fewer keyword hits than asked for: every other candidate has no query term (BM25 0)
    exhausted = {"keyword"} if len(keyword) < strategy.candidates else set()
    fused = fusion.fuse(lists, method=strategy.fusion, k=strategy.rrf_k, weights=weights, adapt=strategy.adapt,
                        alpha=strategy.alpha, exhausted=exhausted)
    return [Result(hit=by_id[f.key], score=f.score, by_retriever=f.by_retriever) for f in fused]


@dataclass(frozen=True)
class SearchPlan:
    """What a search needs besides the connection: the caller runs its I/O."""

    namespace_id: int
    query: str
    strategy: Strategy
    filters: Filters
    exact_max: int
    freshness: FreshnessPolicy = FreshnessPolicy()
    unit: str = "chunk"  # chunk | document (one result per document, its best chunk)


def run_search(
    pool: Any, embedder: QueryEmbedder, plan: SearchPlan, executor: Executor | None,
    timings: Timings, qvec: QueryVector | None = None,
) -> tuple[list[Result], QueryVector | None]:
    """Keyword search runs on a second connection while the query is embedded; then the vector search.
    Each step takes its own connection and gives it back: no thread here waits for one while holding
    one, so a small pool slows requests down but cannot deadlock them (tests/test_connections.py)."""
    depth = plan.strategy.candidates

    def keyword() -> list[Hit]:
        started = time.perf_counter()
        with pool.connection() as conn:
            hits = keyword_hits(conn, plan.namespace_id, plan.query, depth, plan.filters, plan.unit)
        timings.add("keyword", started)
        return hits

    kw_future = executor.submit(keyword) if plan.strategy.uses_keyword() and executor else None
    kw_hits: list[Hit] = []
    vec_hits: list[Hit] = []
    if plan.strategy.uses_vector():
        vec_hits, qvec = _vector_search(pool, embedder, plan, timings, qvec)
    if plan.strategy.uses_keyword():
        kw_hits = kw_future.result() if kw_future else keyword()
    started = time.perf_counter()
    results = with_freshness(fuse(plan.strategy, vec_hits, kw_hits, plan.unit), plan.freshness, datetime.now(timezone.utc))
    timings.add("fuse", started)
    return results, qvec


def _vector_search(pool: Any, embedder: QueryEmbedder, plan: SearchPlan, timings: Timings,
                   qvec: QueryVector | None) -> tuple[list[Hit], QueryVector]:
    """Every chunk of a namespace has a vector of its active model (one transaction flips them all), so
    the rows of one statement are all of one model. Only a flip between reading the model and the
    query leaves no row of the model read: then the query is embedded again by the new one. What is
    embedded is the query without the words nearly every document has (retrieval/query_focus.py)."""
    started = time.perf_counter()
    text: str | None = None
    with pool.connection() as conn:
        model, size = active_model_and_size(conn, plan.namespace_id, embedder.default)
        if qvec is None or qvec.model != model:
            text = focused_query(conn, plan.namespace_id, plan.query, embedder.common_words)
    timings.add("vector", started)
    for _ in range(3):
        if qvec is None or qvec.model != model:
            if text is None:
                with pool.connection() as conn:
                    text = focused_query(conn, plan.namespace_id, plan.query, embedder.common_words)
            started = time.perf_counter()
            qvec = QueryVector(model, embedder.embed(model, text))
            timings.add("embed", started)
        started = time.perf_counter()
        with pool.connection() as conn:
            hits = vector_hits(conn, plan.namespace_id, qvec, vector_depth(plan), plan.filters,
                               exact=size <= plan.exact_max)
            if not hits:
                model, size = active_model_and_size(conn, plan.namespace_id, embedder.default)
        timings.add("vector", started)
        if hits or model == qvec.model:
            return hits, qvec
    return hits, qvec


def vector_depth(plan: SearchPlan) -> int:
    """Documents are aggregated from chunks: look deeper so that most have all their matching chunks."""
    return plan.strategy.candidates * (DOCUMENT_DEPTH if plan.unit == "document" else 1)


def with_freshness(results: list[Result], policy: FreshnessPolicy, now: datetime) -> list[Result]:
    """Score each result's freshness; with a weight, rank by the fused score scaled by it. The
    vectors served are the active model's by construction, so only time since verification counts."""
    for r in results:
        days = r.hit.refresh_interval_days or policy.refresh_interval_days
        r.freshness = freshness_score(now, r.hit.last_verified_at, days)
        if policy.weight > 0:
            r.score = weighted(r.score, r.freshness, policy.weight)
    if policy.weight > 0:
        results.sort(key=lambda r: -r.score)  # stable: ties keep the fused order
    return results


@dataclass(frozen=True)
class SearchRequest:
    """POST /search: the request's choices go over the namespace's retrieval defaults."""

    query: str
    k: int
    filters: Filters = NO_FILTERS
    strategy: str | None = None  # by name, or
    mode: str | None = None  # hybrid | vector | keyword
    rrf_k: float | None = None
    weights: Mapping[str, float] | None = None
    unit: str = "chunk"  # chunk | document


@dataclass(frozen=True)
class Found:
    results: list[Result]  # at most k, best first
    strategy: Strategy


def find(pool: Any, embedder: QueryEmbedder, executor: Executor | None, exact_max: int, who: Principal,
         req: SearchRequest) -> Found:
    """The k best results, each retriever looking at least k deep. `exact_max`: Settings.exact_search_max_chunks."""
    strategy = for_namespace(who.retrieval, name=req.strategy, mode=req.mode, rrf_k=req.rrf_k, weights=req.weights)
    plan = SearchPlan(who.namespace_id, req.query, deep_enough(strategy, req.k), req.filters, exact_max,
                      FreshnessPolicy.from_settings(who.freshness), req.unit)
    results, _ = run_search(pool, embedder, plan, executor, Timings())
    return Found(results[: req.k], strategy)
