"""The API by concept, declared once for both clients: each method names its route and builds its request.

List answers are spelled builtins.list[...]: a resource's own `list` method would shadow the name.

A new route is one method here (or on the client for top-level calls): the decorator does the rest.
On AsyncAgentMem the same methods return awaitables of the types shown.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from agentmem_client.calls import Bound, M, Req, body, endpoint, query
from agentmem_client.types import (
    Alert,
    Alerting,
    Assembled,
    Baseline,
    BatchResult,
    Citation,
    Completed,
    Document,
    DocumentFreshness,
    EmbeddingChange,
    EmbeddingSettings,
    Entry,
    EntryKind,
    FreshnessSettings,
    InjectionPolicy,
    Job,
    Key,
    KeyInfo,
    Namespace,
    Pinned,
    Probe,
    ProbeRun,
    ProbesRun,
    Quality,
    Quarantined,
    Receipt,
    Released,
    RetrievalSettings,
    Role,
    ScreeningSettings,
    SecretsPolicy,
    StoredDocument,
    Strategy,
    Task,
    TaskVersion,
    Trace,
    Upserted,
    Origin,
    TrustLevel,
    TrustRules,
)

Id = uuid.UUID | str
Filters = Mapping[str, Any]  # {"kind": [...], "metadata": {...}, "source_updated_at": {"gte": ..., "lt": ...}}


class Resource(Bound[M]):
    """A group of calls by concept, sending through its client's runner."""


def _pinned(pinned: Mapping[str, str] | Sequence[Pinned | Mapping[str, str]] | None) -> list[Any] | None:
    """Pinned context as [{"label", "text"}]; a plain {label: text} mapping is accepted too."""
    if pinned is None:
        return None
    if isinstance(pinned, Mapping):
        return [{"label": k, "text": v} for k, v in pinned.items()]
    return list(pinned)


class Tasks(Resource[M]):
    @endpoint("POST", "/tasks", Task)
    def create(self, goal: str, *, constraints: Sequence[str] | None = None,
               pinned: Mapping[str, str] | Sequence[Pinned | Mapping[str, str]] | None = None) -> Req:
        """Start a task: its goal, constraints and pinned items head every assembled context."""
        return Req(json=body(goal=goal, constraints=list(constraints or []), pinned=_pinned(pinned) or []))

    @endpoint("GET", "/tasks/{task_id}", Task)
    def get(self, task_id: Id) -> Req:
        return Req(path={"task_id": task_id})

    @endpoint("PATCH", "/tasks/{task_id}", Task)
    def update(self, task_id: Id, *, goal: str | None = None, constraints: Sequence[str] | None = None,
               pinned: Mapping[str, str] | Sequence[Pinned | Mapping[str, str]] | None = None) -> Req:
        """Change what is given; each change is a new version (tasks.versions)."""
        return Req(path={"task_id": task_id}, json=body(
            goal=goal, constraints=None if constraints is None else list(constraints), pinned=_pinned(pinned)))

    @endpoint("GET", "/tasks/{task_id}/versions", builtins.list[TaskVersion])
    def versions(self, task_id: Id) -> Req:
        return Req(path={"task_id": task_id})

    @endpoint("DELETE", "/tasks/{task_id}", Receipt)
    def delete(self, task_id: Id) -> Req:
        return Req(path={"task_id": task_id})

    @endpoint("POST", "/tasks/{task_id}/complete", Completed)
    def complete(self, task_id: Id, *, summary: str | None = None, outcome: str | None = None,
                 origin: Origin | None = None) -> Req:
        """Close the task and write its summary (yours, or one made from the scratchpad) to long-term memory."""
        return Req(path={"task_id": task_id}, json=body(summary=summary, outcome=outcome, origin=origin))


class Scratchpad(Resource[M]):
    @endpoint("POST", "/tasks/{task_id}/scratchpad", Entry)
    def add(self, task_id: Id, content: str, *, kind: EntryKind = "result",
            citations: Iterable[Citation | Mapping[str, Any] | str] = (), unsourced: bool = False,
            step: int | None = None, summary: str | None = None, origin: Origin | None = None) -> Req:
        """Record a step's result; a citation is a Citation, a dict, or just a source (e.g. a source_uri)."""
        cited = [{"source": c} if isinstance(c, str) else c for c in citations]
        return Req(path={"task_id": task_id}, json=body(
            content=content, kind=kind, citations=cited, unsourced=unsourced or None, step=step, summary=summary,
            origin=origin))

    @endpoint("GET", "/tasks/{task_id}/scratchpad", builtins.list[Entry])
    def list(self, task_id: Id, *, unsourced: bool | None = None) -> Req:
        return Req(path={"task_id": task_id}, params=query(unsourced=unsourced))

    @endpoint("GET", "/tasks/{task_id}/scratchpad", builtins.list[Entry])
    def unsourced(self, task_id: Id) -> Req:
        """The claims written without a source: what to verify before the task completes."""
        return Req(path={"task_id": task_id}, params=query(unsourced=True))


class Context(Resource[M]):
    @endpoint("POST", "/context/assemble", Assembled, idempotent=True)
    def assemble(self, query: str, *, budget_tokens: int, task_id: Id | None = None,
                 reserve: Mapping[str, int] | None = None, filters: Filters | None = None,
                 format: Literal["text", "messages"] | None = None, strategy: Strategy | None = None,
                 exclude_flagged: bool | None = None, min_trust: TrustLevel | None = None) -> Req:
        """The context for the next model call within `budget_tokens`: pinned task, scratchpad, long-term."""
        return Req(json=body(query=query, budget_tokens=budget_tokens,
                             task_id=None if task_id is None else str(task_id), reserve=reserve,
                             filters=filters, format=format, strategy=strategy, exclude_flagged=exclude_flagged,
                             min_trust=min_trust))

    @endpoint("GET", "/context/traces/{trace_id}", Trace)
    def trace(self, trace_id: Id) -> Req:
        """What an assemble call included, dropped, and how long each stage took."""
        return Req(path={"trace_id": trace_id})


class Documents(Resource[M]):
    @endpoint("PUT", "/documents", Upserted)
    def upsert(self, source_uri: str, text: str, *, title: str | None = None, context: str | None = None,
               metadata: Mapping[str, Any] | None = None, source_updated_at: datetime | None = None,
               refresh_interval_days: float | None = None, origin: Origin | None = None) -> Req:
        """Create or replace the document at source_uri; the same content again answers 'unchanged'."""
        doc = Document(source_uri=source_uri, text=text, title=title, context=context,
                       metadata=dict(metadata) if metadata is not None else None,
                       source_updated_at=source_updated_at, refresh_interval_days=refresh_interval_days, origin=origin)
        return Req(json=body(**doc.model_dump(mode="json")))

    @endpoint("POST", "/documents/batch", BatchResult, idempotent=True)
    def batch(self, documents: Iterable[Document | Mapping[str, Any]]) -> Req:
        """Upsert many; each item is answered on its own (BatchResult.errors lists those refused)."""
        return Req(json=body(documents=list(documents)))

    @endpoint("GET", "/documents/{doc_id}", StoredDocument)
    def get(self, doc_id: Id) -> Req:
        return Req(path={"doc_id": doc_id})

    @endpoint("DELETE", "/documents/{doc_id}", Receipt)
    def delete(self, doc_id: Id) -> Req:
        return Req(path={"doc_id": doc_id})

    @endpoint("GET", "/documents/{document_id}/freshness", DocumentFreshness)
    def freshness(self, doc_id: Id) -> Req:
        return Req(path={"document_id": doc_id})


class Memories(Resource[M]):
    @endpoint("POST", "/memories", Upserted)
    def add(self, text: str, *, kind: Literal["summary", "fact", "preference"] = "fact",
            source: str | None = None, origin: Origin | None = None) -> Req:
        """A single fact, preference or summary, kept in long-term memory."""
        return Req(json=body(text=text, kind=kind, source=source, origin=origin))


class Probes(Resource[M]):
    @endpoint("POST", "/probes", Probe)
    def create(self, query: str, expected: Sequence[str], *, k: int | None = None,
               strategy: Strategy | None = None) -> Req:
        """A query whose top k must include the `expected` source_uris: a drift check."""
        return Req(json=body(query=query, expected=list(expected), k=k, strategy=strategy))

    @endpoint("GET", "/probes", builtins.list[Probe])
    def list(self) -> Req:
        return Req()

    @endpoint("GET", "/probes/{probe_id}", Probe)
    def get(self, probe_id: Id) -> Req:
        return Req(path={"probe_id": probe_id})

    @endpoint("GET", "/probes/{probe_id}/runs", builtins.list[ProbeRun])
    def runs(self, probe_id: Id, *, limit: int | None = None) -> Req:
        return Req(path={"probe_id": probe_id}, params=query(limit=limit))

    @endpoint("DELETE", "/probes/{probe_id}", Receipt)
    def delete(self, probe_id: Id) -> Req:
        return Req(path={"probe_id": probe_id})

    @endpoint("POST", "/probes/run", ProbesRun)
    def run(self) -> Req:
        """Run the namespace's probes now (ran_here false: another worker is running them)."""
        return Req()

    @endpoint("GET", "/probes/score", Quality)
    def score(self, *, limit: int | None = None) -> Req:
        return Req(params=query(limit=limit))

    @endpoint("POST", "/probes/baseline", Baseline, idempotent=True)
    def set_baseline(self, score: float | None = None) -> Req:
        """Compare later runs with this score (default: the latest)."""
        return Req(json=body(score=score))

    @endpoint("GET", "/alerts", builtins.list[Alert])
    def alerts(self, *, limit: int | None = None,
               kind: Literal["probe_below_threshold", "score_dropped"] | None = None) -> Req:
        return Req(params=query(limit=limit, kind=kind))


class Jobs(Resource[M]):
    @endpoint("POST", "/jobs/reembed", Job, idempotent=True)
    def reembed(self) -> Req:
        """Re-embed what is stale; an open job is returned rather than a second one queued."""
        return Req()

    @endpoint("GET", "/jobs/{job_id}", Job)
    def get(self, job_id: Id) -> Req:
        return Req(path={"job_id": job_id})

    @endpoint("GET", "/jobs", builtins.list[Job])
    def list(self, *, kind: Literal["reembed", "probes"] | None = None, limit: int | None = None) -> Req:
        return Req(params=query(kind=kind, limit=limit))


class Settings(Resource[M]):
    """The namespace's settings: retrieval defaults, freshness policy, alerting, embedding model, screening."""

    @endpoint("GET", "/settings/retrieval", RetrievalSettings)
    def retrieval(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/retrieval", RetrievalSettings)
    def set_retrieval(self, *, strategy: Strategy | None = None, rrf_k: float | None = None,
                      weights: Mapping[str, float] | None = None, candidates: int | None = None) -> Req:
        return Req(json=body(strategy=strategy, rrf_k=rrf_k, weights=weights, candidates=candidates))

    @endpoint("GET", "/settings/freshness", FreshnessSettings)
    def freshness(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/freshness", FreshnessSettings)
    def set_freshness(self, *, refresh_interval_days: float | None = None, stale_below: float | None = None,
                      weight: float | None = None) -> Req:
        return Req(json=body(refresh_interval_days=refresh_interval_days, stale_below=stale_below, weight=weight))

    @endpoint("GET", "/settings/alerting", Alerting)
    def alerting(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/alerting", Alerting)
    def set_alerting(self, *, probe_below: float | None = None, score_drop: float | None = None,
                     webhook_url: str | None = None) -> Req:
        return Req(json=body(probe_below=probe_below, score_drop=score_drop, webhook_url=webhook_url))

    @endpoint("GET", "/settings/embedding", EmbeddingSettings)
    def embedding(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/embedding", EmbeddingChange)
    def set_embedding(self, model: str) -> Req:
        """Move the namespace to another model: a migration (status 'started', with its job)."""
        return Req(json=body(model=model))

    @endpoint("GET", "/settings/screening", ScreeningSettings)
    def screening(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/screening", ScreeningSettings)
    def set_screening(self, *, injection: InjectionPolicy | None = None, secrets: SecretsPolicy | None = None) -> Req:
        """What a write carrying an injection (flag, quarantine, reject) or a secret (redact, refuse) gets.
        A setting not given returns to the server's default (quarantine, redact)."""
        return Req(json=body(injection=injection, secrets=secrets))

    @endpoint("GET", "/settings/trust", TrustRules)
    def trust(self) -> Req:
        return Req()

    @endpoint("PUT", "/settings/trust", TrustRules)
    def set_trust(self, *, sources: Sequence[Mapping[str, Any]] = (),
                  origins: Mapping[Origin, TrustLevel] | None = None) -> Req:
        """Replace the trust rules: `sources` [{"prefix": "kb://", "trust": "trusted", "origins": ["operator"]}]
        (longest matching prefix wins), then `origins` {"operator": "trusted", ...}; else untrusted."""
        return Req(json={"sources": [dict(s) for s in sources], "origins": dict(origins or {})})


def _key(label: str, role: Role | None, expires_at: datetime | None, expires_in_days: float | None) -> dict[str, Any]:
    """A key request; role None: the server's default (operator). Give at most one of the two expiries."""
    return body(label=label, role=role, expires_at=expires_at, expires_in_days=expires_in_days)


class Keys(Resource[M]):
    """The keys of the caller's namespace (an operator key's calls): issue one per agent, list, revoke."""

    @endpoint("POST", "/keys", Key)
    def create(self, label: str, *, role: Role | None = None, expires_at: datetime | None = None,
               expires_in_days: float | None = None) -> Req:
        """A new key of any role up to operator (the default); Key.key is shown this once."""
        return Req(json=_key(label, role, expires_at, expires_in_days))

    @endpoint("GET", "/keys", builtins.list[KeyInfo])
    def list(self) -> Req:
        """Every key of the namespace, revoked ones too (revoked_at set); never a key itself."""
        return Req()

    @endpoint("DELETE", "/keys/{key_id}", KeyInfo)
    def revoke(self, key_id: Id) -> Req:
        """At once: the key's next request is refused (Unauthorized). A key may revoke itself."""
        return Req(path={"key_id": key_id})


class Quarantine(Resource[M]):
    """What screening held back: out of search and assembly until an operator releases or deletes it."""

    @endpoint("GET", "/quarantine", builtins.list[Quarantined])
    def list(self, *, limit: int | None = None) -> Req:
        return Req(params=query(limit=limit))

    @endpoint("POST", "/quarantine/{item_id}/release", Released)
    def release(self, item_id: Id) -> Req:
        """The item becomes searchable and assemblable, still marked by its flags."""
        return Req(path={"item_id": item_id})

    @endpoint("DELETE", "/quarantine/{item_id}", Released)
    def delete(self, item_id: Id) -> Req:
        return Req(path={"item_id": item_id})


class Admin(Resource[M]):
    """Operator calls, with the admin token (admin_token= or AGENTMEM_ADMIN_TOKEN; else the api key)."""

    @endpoint("POST", "/admin/namespaces", Namespace, auth="admin")
    def create_namespace(self, name: str) -> Req:
        return Req(json=body(name=name))

    @endpoint("DELETE", "/admin/namespaces/{name}", Receipt, auth="admin")
    def delete_namespace(self, name: str) -> Req:
        return Req(path={"name": name})

    @endpoint("POST", "/admin/namespaces/{name}/keys", Key, auth="admin")
    def create_key(self, namespace: str, label: str, *, role: Role | None = None,
                   expires_at: datetime | None = None, expires_in_days: float | None = None) -> Req:
        """A new key for the namespace (role default: operator); Key.key is shown this once."""
        return Req(path={"name": namespace}, json=_key(label, role, expires_at, expires_in_days))

    @endpoint("GET", "/admin/namespaces/{name}/keys", builtins.list[KeyInfo], auth="admin")
    def keys(self, namespace: str) -> Req:
        return Req(path={"name": namespace})

    @endpoint("DELETE", "/admin/namespaces/{name}/keys/{key_id}", KeyInfo, auth="admin")
    def revoke_key(self, namespace: str, key_id: Id) -> Req:
        return Req(path={"name": namespace, "key_id": key_id})

    @endpoint("GET", "/metrics", str, auth="admin")
    def metrics(self) -> Req:
        """Prometheus text: probe scores, stale documents, requests, refusals, pool and queues."""
        return Req()
