"""AgentMem (sync) and AsyncAgentMem: the same methods (resources.py), sent by a sync or an async runner.

    with AgentMem() as mem:            # AGENTMEM_URL, AGENTMEM_API_KEY
        task = mem.tasks.create("...", constraints=[...])
        ctx = mem.context.assemble("...", budget_tokens=2000, task_id=task.id)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

import httpx

from agentmem_client.calls import Call, Req, body, endpoint, query, routes_of
from agentmem_client.resources import (
    Admin,
    Context,
    Documents,
    Filters,
    Jobs,
    Memories,
    Probes,
    Resource,
    Scratchpad,
    Settings,
    Strategy,
    Tasks,
)
from agentmem_client.runner import AsyncRunner, Config, Retry, SyncRunner
from agentmem_client.types import Freshness, Health, SearchResult

DEFAULT_TIMEOUT = 30.0  # seconds; an assemble or an upsert embeds text, which takes longer under load


class _Surface:
    """Resources and top-level calls, bound to whatever `_send` the client gives them."""

    _send: Callable[[Call[Any]], Any]

    def _bind(self) -> None:
        self.tasks = Tasks(self._send)
        self.scratchpad = Scratchpad(self._send)
        self.context = Context(self._send)
        self.documents = Documents(self._send)
        self.memories = Memories(self._send)
        self.probes = Probes(self._send)
        self.jobs = Jobs(self._send)
        self.settings = Settings(self._send)
        self.admin = Admin(self._send)

    @endpoint("POST", "/search", SearchResult, idempotent=True)
    def search(self, query: str, *, k: int | None = None, mode: Literal["hybrid", "vector", "keyword"] | None = None,
               strategy: Strategy | None = None, rrf_k: float | None = None,
               weights: Mapping[str, float] | None = None, filters: Filters | None = None,
               explain: bool | None = None) -> Req:
        """Hybrid search over long-term memory (explain=True: each retriever's rank and score)."""
        return Req(json=body(query=query, k=k, mode=mode, strategy=strategy, rrf_k=rrf_k, weights=weights,
                             filters=filters, explain=explain))

    @endpoint("GET", "/freshness", Freshness)
    def freshness(self, *, worst: int | None = None) -> Req:
        """How fresh the namespace's documents are, and the `worst` stalest."""
        return Req(params=query(worst=worst))

    @endpoint("GET", "/healthz", Health, auth="none")
    def health(self) -> Req:
        return Req()

    def covered_routes(self) -> set[tuple[str, str]]:
        """The (method, OpenAPI path) pairs this client can call."""
        found = routes_of(self)
        for resource in vars(self).values():
            if isinstance(resource, Resource):
                found |= routes_of(resource)
        return found


class AgentMem(_Surface):
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
        self._send = runner.send
        self._bind()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAgentMem(_Surface):
    """The async client: the same methods as AgentMem, each returning an awaitable of the same type."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, admin_token: str | None = None,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, retry: Retry | None = None,
                 http: httpx.AsyncClient | None = None, sleep: Callable[[float], Any] | None = None) -> None:
        self.config = Config.resolve(url, api_key, admin_token, timeout, retry)
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient()
        runner = AsyncRunner(self.config, self._http) if sleep is None else AsyncRunner(self.config, self._http, sleep)
        self._send = runner.send
        self._bind()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
