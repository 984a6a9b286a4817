"""`GET /metrics`: Prometheus text exposition, computed from the database on each scrape.

Nothing is counted in process memory: with several service processes on one database, any of them
answers a scrape with the same, complete numbers. The format (version 0.0.4) is written here; it is
small enough not to need a client library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import psycopg

from agentmem.jobs import alerts
from agentmem.jobs import probe_store as store
from agentmem.memory.freshness import FreshnessPolicy
from agentmem.memory.freshness_store import namespace_freshness
from agentmem.memory.namespaces import namespaces_with_documents

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # gauge | counter
    help: str
    samples: list[tuple[Mapping[str, str], float]] = field(default_factory=list)


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def render(families: list[Family]) -> str:
    """The text format: HELP and TYPE once per family, then one line per sample."""
    lines = []
    for f in families:
        lines.append(f"# HELP {f.name} {f.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {f.name} {f.kind}")
        for labels, value in f.samples:
            inner = ",".join(f'{k}="{_label_value(v)}"' for k, v in labels.items())
            lines.append(f"{f.name}{{{inner}}} {_number(value)}" if inner else f"{f.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def collect(conn: psycopg.Connection[Any], model: str) -> list[Family]:
    """Probe quality, alerts and document freshness of every namespace."""
    score = Family("agentmem_probe_score", "gauge", "Latest retrieval-quality score: mean recall@k over the probes.")
    baseline = Family("agentmem_probe_baseline", "gauge", "The score the namespace is compared with.")
    probes = Family("agentmem_probes", "gauge", "Drift probes defined.")
    for q in store.quality_by_namespace(conn):
        ns = {"namespace": q.namespace}
        probes.samples.append((ns, q.probes))
        if q.score is not None:
            score.samples.append((ns, q.score))
        if q.baseline is not None:
            baseline.samples.append((ns, q.baseline))
    raised = Family("agentmem_alerts_total", "counter", "Alerts raised by probe runs.")
    failed = Family("agentmem_alert_webhook_failures_total", "counter", "Alerts whose webhook delivery failed.")
    failures: dict[str, int] = {}
    for c in alerts.counts(conn):
        raised.samples.append(({"namespace": c.namespace, "kind": c.kind}, c.alerts))
        failures[c.namespace] = failures.get(c.namespace, 0) + c.webhook_failures
    failed.samples.extend(({"namespace": ns}, n) for ns, n in failures.items())
    documents = Family("agentmem_documents", "gauge", "Long-term documents and memories stored.")
    stale = Family("agentmem_documents_stale", "gauge", "Documents whose freshness is below the stale threshold.")
    for ns in namespaces_with_documents(conn):
        f = namespace_freshness(conn, ns.id, FreshnessPolicy.from_settings(ns.freshness), model, worst=0)
        documents.samples.append(({"namespace": ns.name}, f.documents))
        stale.samples.append(({"namespace": ns.name}, f.stale))
    return [score, baseline, probes, raised, failed, documents, stale]
