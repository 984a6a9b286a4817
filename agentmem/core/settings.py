"""Service configuration, read once from the environment (prefix AGENTMEM_, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTMEM_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "AGENTMEM_DATABASE_URL")
    )
    data_dir: Path = Path("~/.local/share/agentmem").expanduser()
    admin_token: str | None = None

    # Embedding model of new namespaces (embeddings/catalog.py); a namespace changes its own with
    # PUT /settings/embedding, which starts a migration. Distilled models are cached in models_dir.
    embedding_model: str = "all-MiniLM-L6-v2"
    models_dir: Path | None = None  # default: <data_dir>/models
    reembed_batch_size: int = 256  # chunks per re-embedding transaction

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

    # Background jobs (jobs/): the scheduler polls the job queue and queues scheduled work. Several
    # processes may run it on one database; each job still runs once.
    scheduler: bool = True
    job_poll_seconds: float = 2.0
    job_stale_after_seconds: float = 30.0  # a running job without a heartbeat this long is taken over
    reembed_every_seconds: float = 3600.0  # look for stale vectors (0: only on demand)
    probes_every_seconds: float = 3600.0  # run every namespace's drift probes (0: only on demand)

    # Alert webhooks (jobs/webhook.py): each attempt times out after webhook_timeout_seconds; failed
    # attempts are retried after backoff, 2 x backoff, ... Keep attempts x timeout well under
    # job_stale_after_seconds: the job beats its heartbeat between alerts, not inside one delivery.
    webhook_timeout_seconds: float = 5.0
    webhook_attempts: int = 3
    webhook_backoff_seconds: float = 0.5

    pool_min_size: int = 1
    pool_max_size: int = 10

    def database_dir(self) -> Path:
        return self.data_dir / "pgdata"
