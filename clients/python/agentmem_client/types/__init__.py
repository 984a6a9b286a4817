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
    KeyInfo,
    Migration,
    Namespace,
    Probe,
    ProbeResult,
    ProbeRun,
    ProbesRun,
    Quality,
    Role,
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
from agentmem_client.types.screening import (
    InjectionPolicy,
    Quarantined,
    Redaction,
    Released,
    Screening,
    ScreeningSettings,
    SecretsPolicy,
    SourceRule,
    TrustLevel,
    TrustRules,
    Origin,
    WrittenBy,
)
from agentmem_client.types.tasks import Citation, Completed, Entry, EntryKind, Pinned, Receipt, Task, TaskVersion

__all__ = [
    "Alert", "Alerting", "Assembled", "Baseline", "BatchItem", "BatchResult", "Chunk", "Citation", "Completed",
    "ContextItem", "Document", "DocumentFreshness", "Dropped", "EmbeddingChange", "EmbeddingModel",
    "EmbeddingSettings", "Entry", "EntryKind", "Freshness", "FreshnessSettings", "Health", "Hit",
    "InjectionPolicy", "Job", "Key", "KeyInfo", "Message", "Migration", "Namespace", "Pinned", "Probe",
    "ProbeResult", "ProbeRun", "ProbesRun", "Quality", "Quarantined", "Receipt", "Redaction", "Released",
    "RetrievalSettings", "RetrieverScore", "Role", "ScorePoint", "Scores", "Screening", "ScreeningSettings",
    "SearchResult", "SecretsPolicy", "Section", "StoredDocument", "Strategy", "Task", "TaskVersion", "Trace",
    "Upserted", "Weights", "WrittenBy", "Origin", "SourceRule", "TrustLevel", "TrustRules",
]
