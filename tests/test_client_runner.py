"""The client's retry decisions and error mapping, without a server: answers scripted with httpx.MockTransport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from agentmem_client import (
    AgentMem,
    AsyncAgentMem,
    Forbidden,
    ModelUnavailable,
    NotFound,
    Overloaded,
    RateLimited,
    Retry,
    ServerError,
    TransportError,
)
from agentmem_client.errors import error_for
from agentmem_client.runner import retry_after_seconds

TASK = {"id": "6f1c4a52-3a8b-4c3e-9d5e-1b2a3c4d5e6f", "goal": "g", "constraints": [], "pinned": [],
        "pinned_tokens": 0, "version": 1, "status": "open", "outcome": None, "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z", "completed_at": None}
SEARCH = {"results": [], "strategy": "hybrid_rrf"}


def refusal(status: int, code: str, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, json={"error": {"code": code, "message": f"{code}: try later"}}, headers=headers)


def scripted(*answers: httpx.Response | Exception) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    """A handler answering in turn, and the list of requests it saw."""
    seen: list[str] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def client(handler: Callable[[httpx.Request], httpx.Response], slept: list[float], **retry: Any) -> AgentMem:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return AgentMem("http://agentmem.test", "k", http=http, sleep=slept.append,
                    retry=Retry(rand=lambda: 0.5, **retry))


def test_429_waits_retry_after_plus_jitter_then_succeeds() -> None:
    handler, seen = scripted(refusal(429, "rate_limited", "2"), httpx.Response(201, json=TASK))
    slept: list[float] = []
    task = client(handler, slept).tasks.create("g")
    assert str(task.id) == TASK["id"] and seen == ["POST /tasks", "POST /tasks"]
    assert slept == [2 * (1 + 0.25 * 0.5)]  # never sooner than the server asked


def test_503_without_retry_after_backs_off_exponentially_then_raises() -> None:
    handler, seen = scripted(*[refusal(503, "overloaded") for _ in range(4)])
    slept: list[float] = []
    with pytest.raises(Overloaded, match="overloaded: try later") as raised:
        client(handler, slept, max_retries=3, backoff=0.5).search("q")
    assert len(seen) == 4 and raised.value.status == 503
    assert slept == [0.5 * 0.875, 1.0 * 0.875, 2.0 * 0.875]


def test_what_waiting_cannot_fix_is_raised_at_once() -> None:
    slept: list[float] = []
    handler, seen = scripted(refusal(503, "model_unavailable"))
    with pytest.raises(ModelUnavailable):
        client(handler, slept).search("q")
    handler, seen = scripted(refusal(429, "rate_limited", "600"))
    with pytest.raises(RateLimited) as raised:
        client(handler, slept, max_wait=60).search("q")
    assert raised.value.retry_after == 600 and slept == [] and len(seen) == 1


def test_connection_errors_retry_only_what_is_safe_to_send_twice() -> None:
    slept: list[float] = []
    lost = httpx.ReadError("connection reset")
    handler, seen = scripted(lost)
    with pytest.raises(TransportError, match="ReadError"):
        client(handler, slept).tasks.create("g")  # the create may have been written: not sent again
    assert len(seen) == 1 and slept == []

    calls = [(lambda m: m.tasks.get(TASK["id"]), TASK), (lambda m: m.search("q"), SEARCH)]
    for call, answer in calls:  # a GET, and a POST that only reads: sent again
        handler, seen = scripted(lost, httpx.Response(200, json=answer))
        call(client(handler, slept))
        assert len(seen) == 2
    assert len(slept) == 2

    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(201, json=TASK))
    client(handler, slept).tasks.create("g")  # the connection never opened: nothing was sent
    assert len(seen) == 2


def test_error_answers_map_to_classes_by_code_then_status() -> None:
    assert isinstance(error_for(403, {"error": {"code": "forbidden", "message": "reader key"}}), Forbidden)
    e = error_for(404, {"error": {"code": "something_new", "message": "gone"}})
    assert isinstance(e, NotFound) and e.code == "something_new" and e.message == "gone"
    e = error_for(502, "<html>bad gateway</html>")
    assert isinstance(e, ServerError) and e.status == 502 and "bad gateway" in e.message


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert retry_after_seconds("7") == 7 and retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_requests_carry_the_key_the_url_and_no_unset_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTMEM_URL", "http://from-env.test:9/")
    monkeypatch.setenv("AGENTMEM_API_KEY", "env-key")
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"results": [], "strategy": "keyword_only"})

    mem = AgentMem(http=httpx.Client(transport=httpx.MockTransport(handle)))
    mem.search("q", k=3)
    [request] = sent
    assert str(request.url) == "http://from-env.test:9/search"
    assert request.headers["authorization"] == "Bearer env-key"
    assert request.content == b'{"query":"q","k":3}'


def test_async_client_retries_like_the_sync_one() -> None:
    handler, seen = scripted(refusal(503, "overloaded", "1"), httpx.Response(200, json=SEARCH))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            mem = AsyncAgentMem("http://agentmem.test", "k", http=http, sleep=sleep, retry=Retry(rand=lambda: 0))
            assert (await mem.search("q")).strategy == "hybrid_rrf"

    asyncio.run(run())
    assert seen == ["POST /search", "POST /search"] and slept == [1.0]
