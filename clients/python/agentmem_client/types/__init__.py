"""The client's answer types (its own: it does not import the server's schemas)."""

from agentmem_client.types.documents import BatchItem, BatchResult, Chunk, Document, StoredDocument, Upserted
from agentmem_client.types.operations import (
    Alert,
    Alerting,
    Baseline,
    DocumentFreshness,
    EmbeddingChange,
    EmbeddingModel,
    EmbeddingSettings,
    Freshness,
    FreshnessSettings,
    Health,
    Job,
    Key,
    Migration,
    Namespace,
    Probe,
    ProbeResult,
    ProbeRun,
    ProbesRun,
    Quality,
    ScorePoint,
)
from agentmem_client.types.retrieval import (
    Assembled,
    ContextItem,
    Dropped,
    Hit,
    Message,
    RetrievalSettings,
    RetrieverScore,
    Scores,
    SearchResult,
    Section,
    Strategy,
    Trace,
    Weights,
)
from agentmem_client.types.tasks import Citation, Completed, Entry, EntryKind, Pinned, Receipt, Task, TaskVersion

__all__ = [
    "Alert", "Alerting", "Assembled", "Baseline", "BatchItem", "BatchResult", "Chunk", "Citation", "Completed",
    "ContextItem", "Document", "DocumentFreshness", "Dropped", "EmbeddingChange", "EmbeddingModel",
    "EmbeddingSettings", "Entry", "EntryKind", "Freshness", "FreshnessSettings", "Health", "Hit", "Job", "Key",
    "Message", "Migration", "Namespace", "Pinned", "Probe", "ProbeResult", "ProbeRun", "ProbesRun", "Quality",
    "Receipt", "RetrievalSettings", "RetrieverScore", "ScorePoint", "Scores", "SearchResult", "Section",
    "StoredDocument", "Strategy", "Task", "TaskVersion", "Trace", "Upserted", "Weights",
]
