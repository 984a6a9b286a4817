"""Prometheus series of the embedding schedulers (embeddings/scheduler.py), when prometheus-client is installed.

`QUEUE_DEPTH` (agentmem_embed_queue_depth): texts waiting for a model, by model and kind (query,
bulk). `WAIT_SECONDS` (agentmem_embed_wait_seconds): how long a request waited for its first
forward pass. Both live in prometheus_client's default registry, as that library intends: one
process, one set of series, whatever the number of schedulers.
"""

from __future__ import annotations

try:
    from prometheus_client import Gauge, Histogram
except ImportError:  # pragma: no cover - a dependency, but the scheduler must not need it
    Gauge = Histogram = None  # type: ignore[assignment,misc]

WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

QUEUE_DEPTH = None if Gauge is None else Gauge(
    "agentmem_embed_queue_depth", "Texts waiting for the embedding model, by model and kind (query, bulk).",
    ["model", "kind"])
WAIT_SECONDS = None if Histogram is None else Histogram(
    "agentmem_embed_wait_seconds", "Seconds a request waited for the embedding model before its first forward pass.",
    ["model", "kind"], buckets=WAIT_BUCKETS)


def set_depth(model: str, kind: str, texts: int) -> None:
    if QUEUE_DEPTH is not None:
        QUEUE_DEPTH.labels(model=model, kind=kind).set(texts)


def observe_wait(model: str, kind: str, seconds: float) -> None:
    if WAIT_SECONDS is not None:
        WAIT_SECONDS.labels(model=model, kind=kind).observe(seconds)
