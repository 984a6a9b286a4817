"""Service configuration, read once from the environment (prefix AGENTMEM_, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NamespaceLimits(BaseModel):
    """One namespace's own limits (any left out: the service-wide setting)."""

    model_config = ConfigDict(extra="forbid")

    in_flight: int | None = Field(default=None, ge=1)
    requests_per_second: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    ingest_tokens: int | None = Field(default=None, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTMEM_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AGENTMEM_DATABASE_URL")
    )
    data_dir: Path = Path("~/.local/share/agentmem").expanduser()
    admin_token: str | None = None
    # Tracing is configured by the standard OTEL_* variables (api/tracing.py); this opts in to putting
    # the query text of /context/assemble into its span (gen_ai.memory.query.text): it may be sensitive.
    trace_query_text: bool = False

    # Embedding model of new namespaces (embeddings/catalog.py); a namespace changes its own with
    # PUT /settings/embedding, which starts a migration. Distilled models are cached in models_dir.
    embedding_model: str = "all-MiniLM-L6-v2"
    models_dir: Path | None = None  # default: <data_dir>/models
    reembed_batch_size: int = 256  # chunks per re-embedding transaction
    # Each model's scheduler (embeddings/scheduler.py): queries first, then bulk work in slices of
    # at most embed_slice_texts (fewer if they would take over embed_slice_seconds; 0: no time bound),
    # namespace by namespace. Refused (503) above embed_queue_max_texts waiting (per kind) or after
    # embed_timeout_seconds without progress.
    embed_slice_texts: int = 32
    embed_slice_seconds: float = 0.25
    embed_queue_max_texts: int = 100_000
    embed_timeout_seconds: float = 30.0
    # Queries on a second copy of the model (~90 MB for MiniLM), in a worker of their own: a query
    # never waits for a bulk slice (docs/ingest.md). False: one copy, queries first between slices.
    embed_query_worker: bool = True
    # The query copy runs on ONNX Runtime (the same vectors, ~2.6x faster a query); false: a torch copy.
    embed_query_onnx: bool = True
    # With it, the bulk worker thread runs this much nicer (0-19): under load the cores go to requests.
    embed_bulk_nice: int = Field(default=10, ge=0, le=19)
    # With it, a write of at most this many texts (a scratchpad entry, a one-chunk note) can be embedded
    # on a third copy (~90 MB more) by a worker of its own, never behind a bulk slice. Off (0) by default:
    # under load it halved write latency but slowed assemble's p95 by ~25% (docs/ingest.md).
    embed_small_writes: int = Field(default=0, ge=0)
    # torch threads of a forward pass over more than two texts (a query runs on one): 1 leaves the
    # other cores to requests' SQL and Python; 0 lets torch take every core (docs/ingest.md).
    embed_threads: int = Field(default=1, ge=0)

    # Chunking: measured in docs/chunking.md (speed and retrieval quality per size).
    chunk_tokens: int = 128
    embed_batch_size: int = 64

    # Input limits: above them the API answers 413.
    max_text_chars: int = 1_000_000
    max_batch_documents: int = 100
    max_body_bytes: int = 32 * 1024 * 1024
    max_scratchpad_chars: int = 200_000

    # Limits against amplification: what one request may make the service store or compute. Sizes
    # and counts answer 413, shapes 422, each naming its setting (README: "Limits and what a client
    # should do on 429/503").
    max_json_depth: int = 32  # nesting of any JSON body, measured on the raw bytes before parsing (422)
    max_metadata_bytes: int = 16_384  # a document's metadata, as compact JSON (413)
    max_metadata_depth: int = 8  # nesting inside metadata, and inside a search filter's metadata (422)
    max_context_chars: int = 4_000  # a document's context: indexed with every one of its chunks (413)
    max_citations_per_entry: int = 50  # citations of one scratchpad entry (413)
    max_probes_per_namespace: int = 1_000  # each probe runs a search on every scheduled probes job (422)
    max_pinned_items: int = 100  # labelled pinned items of a task (413)
    max_constraints: int = 100  # constraints of a task (413)

    # Retrieval: exact vector search up to this many chunks in a namespace, HNSW above.
    exact_search_max_chunks: int = 20_000
    # Multi-hop help in /context/assemble (retrieval/expansion.py; chosen on LoCoMo conversations 0-4,
    # docs/retrieval.md "Multi-hop in assembly"). 0 turns a part off.
    # Round two is off by default: alone it gained 1-1.5 points at 2,000 tokens, with neighbours it lost.
    assemble_feedback_hits: int = Field(default=0, ge=0)  # round two looks from round one's best this many
    assemble_feedback_terms: int = Field(default=0, ge=0)  # round two's keyword query: + this many hit words
    assemble_keyword_round_weight: float = Field(default=0.0, ge=0)  # its list in the rank fusion
    assemble_feedback_weight: float = Field(default=0.0, ge=0)  # round two's vector: q + w * mean(hits)
    assemble_round_two_weight: float = Field(default=0.0, ge=0)  # its list in the rank fusion (0: not run)
    assemble_neighbour_anchors: int = Field(default=20, ge=0)  # the best items that bring their neighbours
    assemble_neighbour_window_hours: float = Field(default=6.0, ge=0)

    # --- Background jobs (jobs/) -----------------------------------------------------------------
    # Each process runs job_workers threads on the job queue (jobs/workers.py) and queues scheduled
    # work. Several processes may do so on one database; each job still runs once. A running job's
    # lease is renewed every job_heartbeat_seconds (at most a third of job_stale_after_seconds) by a
    # thread of its own, whatever the job is doing; a job without a heartbeat for
    # job_stale_after_seconds (its process died) is taken over. One namespace holds at most
    # job_workers - 1 of a process's threads, so others' jobs are not held up by its slow one.
    scheduler: bool = True
    job_workers: int = Field(default=3, ge=1)
    job_poll_seconds: float = Field(default=2.0, gt=0)
    job_stale_after_seconds: float = Field(default=30.0, gt=0)
    job_heartbeat_seconds: float = Field(default=5.0, gt=0)
    reembed_every_seconds: float = 3600.0  # look for stale vectors (0: only on demand)
    probes_every_seconds: float = 3600.0  # run every namespace's drift probes (0: only on demand)
    # Retention (jobs/retention.py): a `retention` job, queued every retention_every_seconds, deletes
    # at most retention_batch_size rows per statement. 0 turns a rule off (keep forever).
    retention_every_seconds: float = 3600.0
    retention_batch_size: int = Field(default=5000, ge=1)
    retention_assemble_traces_days: float = Field(default=30.0, ge=0)
    retention_probe_runs_days: float = Field(default=90.0, ge=0)  # runs and scores; the latest ones stay
    retention_jobs_days: float = Field(default=30.0, ge=0)  # finished jobs; open ones are never deleted
    retention_document_versions: int = Field(default=100, ge=0)  # version rows kept per document
    retention_task_versions: int = Field(default=100, ge=0)  # earlier versions kept per task
    # --- end of background jobs -------------------------------------------------------------------

    # Alert webhooks (jobs/webhook.py): each attempt times out after webhook_timeout_seconds; failed
    # attempts are retried after backoff, 2 x backoff, ... The job's lease is renewed meanwhile.
    webhook_timeout_seconds: float = 5.0
    webhook_attempts: int = 3
    webhook_backoff_seconds: float = 0.5
    # Webhooks reach public addresses only (jobs/outbound.py); these (host names, addresses, networks,
    # comma-separated) are allowed besides, e.g. "hooks.internal,10.1.2.0/24".
    webhook_allow_hosts: str = ""

    # --- Connections, admission and limits (api/admission.py; README "Limits and what a client should
    # do on 429/503"). All per process: N processes on one database admit N times as much.
    # A request holds a pooled connection only while it runs a statement, and never waits for one while
    # holding another, so the pool size sets throughput, not correctness. Default pool size:
    # max_in_flight // 2 + io_threads (request threads rarely all run SQL at once; every I/O thread may).
    pool_min_size: int = 1
    pool_max_size: int | None = None
    pool_timeout_seconds: float = 5.0  # longest wait for a connection; then 503 + Retry-After
    io_threads: int = 8  # parallel sub-queries of /search and /context/assemble (keyword, task reads)
    max_in_flight: int = 32  # requests worked on at once; the others wait in a queue
    max_queued: int = 128  # requests waiting for a slot; above it: 503
    queue_wait_seconds: float = 10.0  # longest wait in that queue; then 503
    # Per namespace (AGENTMEM_NAMESPACE_LIMITS='{"acme": {"requests_per_second": 500}}' overrides any
    # of the four for one namespace). Above one: 429 naming it.
    namespace_in_flight: int = 4  # requests at once, queued ones included (README "Limits": why 4)
    namespace_requests_per_second: float = 100.0  # token bucket refill rate
    namespace_burst: int = 200  # token bucket size
    namespace_ingest_tokens: int = 500_000  # tokens of document text being ingested at once (PUT/batch)
    namespace_limits: dict[str, NamespaceLimits] = {}
    retry_after_seconds: int = 1  # Retry-After when no better estimate exists (a slot may free at any time)

    def pool_size(self) -> int:
        return self.pool_max_size or self.max_in_flight // 2 + self.io_threads

    def database_dir(self) -> Path:
        return self.data_dir / "pgdata"
