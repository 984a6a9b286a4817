"""AgentMem (sync) and AsyncAgentMem: the same methods (resources.py), sent by a sync or an async runner.

    with AgentMem() as mem:            # AGENTMEM_URL, AGENTMEM_API_KEY
        task = mem.tasks.create("...", constraints=[...])
        ctx = mem.context.assemble("...", budget_tokens=2000, task_id=task.id)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

import httpx

from agentmem_client.calls import Async, Bound, Call, Endpoint, M, Req, Sync, body, endpoint, endpoints_of, query
from agentmem_client.resources import (
    Admin,
    Context,
    Documents,
    Filters,
    Jobs,
    Keys,
    Memories,
    Probes,
    Quarantine,
    Resource,
    Scratchpad,
    Settings,
    Tasks,
)
from agentmem_client.runner import AsyncRunner, Config, Retry, SyncRunner
from agentmem_client.types import Freshness, Health, SearchResult, Strategy, TrustLevel

DEFAULT_TIMEOUT = 30.0  # seconds; an assemble or an upsert embeds text, which takes longer under load


class _Surface(Bound[M]):
    """Resources and top-level calls, bound to the client's runner."""

    def __init__(self, send: Callable[[Call[Any]], Any]) -> None:
        super().__init__(send)
        self.tasks: Tasks[M] = Tasks(send)
        self.scratchpad: Scratchpad[M] = Scratchpad(send)
        self.context: Context[M] = Context(send)
        self.documents: Documents[M] = Documents(send)
        self.memories: Memories[M] = Memories(send)
        self.probes: Probes[M] = Probes(send)
        self.jobs: Jobs[M] = Jobs(send)
        self.settings: Settings[M] = Settings(send)
        self.keys: Keys[M] = Keys(send)
        self.quarantine: Quarantine[M] = Quarantine(send)
        self.admin: Admin[M] = Admin(send)

    @endpoint("POST", "/search", SearchResult, idempotent=True)
    def search(self, query: str, *, k: int | None = None, mode: Literal["hybrid", "vector", "keyword"] | None = None,
               strategy: Strategy | None = None, rrf_k: float | None = None,
               weights: Mapping[str, float] | None = None, filters: Filters | None = None,
               explain: bool | None = None, min_trust: TrustLevel | None = None,
               unit: Literal["chunk", "document"] | None = None) -> Req:
        """Hybrid search over long-term memory (explain=True: each retriever's rank and score; unit="document":
        one result per document, its best chunk)."""
        return Req(json=body(query=query, k=k, mode=mode, strategy=strategy, rrf_k=rrf_k, weights=weights,
                             filters=filters, explain=explain, min_trust=min_trust, unit=unit))

    @endpoint("GET", "/freshness", Freshness)
    def freshness(self, *, worst: int | None = None) -> Req:
        """How fresh the namespace's documents are, and the `worst` stalest."""
        return Req(params=query(worst=worst))

    @endpoint("GET", "/healthz", Health, auth="none")
    def health(self) -> Req:
        return Req()

    def endpoints(self) -> list[Endpoint[Any, Any]]:
        """Every call this client can make: its route, idempotence and answer type."""
        found = endpoints_of(self)
        for resource in vars(self).values():
            if isinstance(resource, Resource):
                found += endpoints_of(resource)
        return found

    def covered_routes(self) -> set[tuple[str, str]]:
        """The (method, OpenAPI path) pairs this client can call."""
        return {e.route for e in self.endpoints()}


class AgentMem(_Surface[Sync]):
    """The sync client. `url`, `api_key`, `admin_token` default to AGENTMEM_URL (else http://127.0.0.1:8000),
    AGENTMEM_API_KEY and AGENTMEM_ADMIN_TOKEN; `retry` says how 429/503 and failed connections are retried;
    `http`: your own httpx.Client (proxies, event hooks), which this client will not close."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, admin_token: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retry: Retry | None = None,
                 http: httpx.Client | None = None, sleep: Callable[[float], None] | None = None) -> None:
        self.config = Config.resolve(url, api_key, admin_token, timeout, retry)
        self._owns_http = http is None
        self._http = http or httpx.Client()
        runner = SyncRunner(self.config, self._http) if sleep is None else SyncRunner(self.config, self._http, sleep)
        super().__init__(runner.send)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAgentMem(_Surface[Async]):
    """The async client: the same methods as AgentMem, each returning an awaitable of the same type."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, admin_token: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retry: Retry | None = None,
                 http: httpx.AsyncClient | None = None, sleep: Callable[[float], Any] | None = None) -> None:
        self.config = Config.resolve(url, api_key, admin_token, timeout, retry)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient()
        runner = AsyncRunner(self.config, self._http) if sleep is None else AsyncRunner(self.config, self._http, sleep)
        super().__init__(runner.send)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
