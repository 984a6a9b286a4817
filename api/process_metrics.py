"""What this process sees, for operators: requests by route and status, admission refusals, the
connection pool, the embedding queue. Appended to `GET /metrics` after the database's numbers.

Unlike api/metrics.py these are counted in process memory, one registry per app (never the global
one): with several processes, Prometheus scrapes each and sums them.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from agentmem.embeddings import queue_metrics
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem.api.admission import ProcessGate
from agentmem.core.errors import Refused
from agentmem.api.admission_middleware import TICKET

# Seconds: a search takes milliseconds, an ingest of a large batch tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "<unmatched>"  # a path no route answers: never the raw path, whose values are unbounded


# The embedding schedulers' series live in prometheus-client's default registry; only they are shown.
EMBEDDING_SERIES = REGISTRY.restricted_registry([
    "agentmem_embed_queue_depth", *(f"agentmem_embed_wait_seconds{suffix}" for suffix in
                                    ("_bucket", "_count", "_sum", "_created")),
])
assert queue_metrics.QUEUE_DEPTH is not None  # registered on import, before the first scrape


class ProcessMetrics:
    """The registry and its instruments; the embedding schedulers' series (embeddings/queue_metrics.py,
    one set per process) are rendered after them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._state: _StateCollector | None = None
        r = self.registry
        self.requests = Counter("agentmem_http_requests", "HTTP requests answered, by route template and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("agentmem_http_request_seconds", "Time to answer a request, by route and status.",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.refusals = Counter("agentmem_rejections", "Requests refused: 429 (a namespace's limit) or 503 "
                                "(the process's), by namespace ('' when not known yet) and reason.",
                                ["namespace", "reason", "status"], registry=r)

    def refused(self, exc: Refused) -> None:
        self.refusals.labels(exc.namespace, exc.reason, str(exc.status_code)).inc()

    def watch(self, pool: Any, gate: ProcessGate) -> None:
        """Read the pool's and the gate's state at each scrape (from when the app opens its pool)."""
        if self._state is not None:
            self.registry.unregister(self._state)
        self._state = _StateCollector(pool.get_stats, gate)
        self.registry.register(self._state)

    def render(self) -> str:
        return (generate_latest(self.registry) + generate_latest(EMBEDDING_SERIES)).decode()


class _StateCollector(Collector):
    def __init__(self, pool_stats: Callable[[], dict[str, int]], gate: ProcessGate) -> None:
        self.pool_stats = pool_stats
        self.gate = gate

    def collect(self) -> Iterator[Metric]:
        s = self.pool_stats()
        in_use = s.get("pool_size", 0) - s.get("pool_available", 0)
        conns = GaugeMetricFamily("agentmem_db_pool_connections", "Pooled database connections, by state.",
                                  labels=["state"])
        conns.add_metric(["in_use"], in_use)
        conns.add_metric(["idle"], s.get("pool_available", 0))
        yield conns
        yield GaugeMetricFamily("agentmem_db_pool_max", "Most connections the pool may open.", s.get("pool_max", 0))
        yield GaugeMetricFamily("agentmem_db_pool_waiting", "Threads waiting for a connection now.",
                                s.get("requests_waiting", 0))
        yield CounterMetricFamily("agentmem_db_pool_waits", "Connection requests that had to wait.",
                                  s.get("requests_queued", 0))
        yield CounterMetricFamily("agentmem_db_pool_wait_seconds", "Time spent waiting for connections.",
                                  s.get("requests_wait_ms", 0) / 1000.0)
        yield CounterMetricFamily("agentmem_db_pool_timeouts", "Connection requests that timed out (answered 503).",
                                  s.get("requests_errors", 0))
        yield GaugeMetricFamily("agentmem_requests_in_flight", "Requests being worked on (max_in_flight).",
                                self.gate.in_flight)
        yield GaugeMetricFamily("agentmem_requests_queued", "Requests waiting for a slot (max_queued).",
                                self.gate.queued)


class MetricsMiddleware:
    """Times every HTTP request and counts it by route template (the route that matched) and status."""

    def __init__(self, app: ASGIApp, metrics: ProcessMetrics,
                 routes: Callable[[], Sequence[BaseRoute]] = tuple) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes  # the app's own routes (not included routers), to name a request refused before routing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            labels = (scope["method"], self._route(scope), str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None and scope.get(TICKET) is None:  # refused at the door: find what it asked for
            route = next((r for r in self.routes() if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", UNMATCHED)
