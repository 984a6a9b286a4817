"""Admission control: the pure bookkeeping (token bucket, namespace limits, the process's gate), then
each limit against the real service: 429 + Retry-After naming the limit, other namespaces unaffected."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agentmem.api.admission import Admission, KeyCache, Limits, ProcessGate, TokenBucket
from agentmem.core.errors import Overloaded, RateLimited
from agentmem.api.app import create_app
from agentmem.api.deps import document_texts
from agentmem.api.in_thread import make_tenant, serve
from agentmem.core.settings import NamespaceLimits, Settings
from conftest import make_tenant as make_test_tenant
from locks import namespace_locked, wait_until_blocked

LIMITS = Limits(in_flight=2, requests_per_second=1.0, burst=2, ingest_tokens=100)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, stamp=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token comes every 0.5 s
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    bucket.refill(100.0)
    assert bucket.tokens == 3.0  # never more than the burst


def test_namespace_in_flight_limit_names_itself_and_frees_on_leave() -> None:
    clock = Clock()
    a = Admission(LIMITS, clock=clock, retry_after=1)
    a.enter("alpha")
    clock.now = 10.0
    a.enter("alpha")
    with pytest.raises(RateLimited) as refused:
        a.enter("alpha")
    assert refused.value.limit == "namespace_in_flight" and refused.value.value == 2
    assert "namespace_in_flight" in refused.value.message and "2" in refused.value.message
    assert refused.value.retry_after == 1 and refused.value.status_code == 429
    a.enter("beta")  # another namespace has its own count
    a.leave("alpha")
    a.enter("alpha")
    assert a.in_flight("alpha") == 2


def test_rate_limit_retry_after_is_the_wait_for_a_token() -> None:
    clock = Clock()
    a = Admission(Limits(in_flight=100, requests_per_second=0.1, burst=2, ingest_tokens=1), clock=clock)
    for _ in range(2):
        a.enter("alpha")
        a.leave("alpha")
    with pytest.raises(RateLimited) as refused:
        a.enter("alpha")
    assert refused.value.limit == "namespace_requests_per_second" and refused.value.retry_after == 10
    assert a.in_flight("alpha") == 0  # a refused request is not counted in
    clock.now = 10.0
    a.enter("alpha")


def test_ingest_limit_counts_tokens_and_lets_one_oversized_request_in_alone() -> None:
    a = Admission(LIMITS)
    a.enter_ingest("alpha", 500)  # above the limit, but nothing else is being ingested
    with pytest.raises(RateLimited) as refused:
        a.enter_ingest("alpha", 1)
    assert refused.value.limit == "namespace_ingest_tokens" and refused.value.value == 100
    assert "500" in refused.value.message
    a.enter_ingest("beta", 60)
    a.leave_ingest("alpha", 500)
    a.enter_ingest("alpha", 60)
    with pytest.raises(RateLimited):
        a.enter_ingest("alpha", 41)
    a.enter_ingest("alpha", 40)


def test_overrides_apply_to_their_namespace_only() -> None:
    settings = Settings(namespace_in_flight=5, namespace_limits={"big": NamespaceLimits(in_flight=50)})
    default, overrides = Limits.of(settings)
    a = Admission(default, overrides)
    assert a.limits("big").in_flight == 50 and a.limits("big").burst == settings.namespace_burst
    assert a.limits("small").in_flight == 5


def test_an_unknown_override_field_is_refused() -> None:
    with pytest.raises(ValueError, match="in_flite"):
        Settings(namespace_limits={"big": {"in_flite": 5}})


def test_idle_namespaces_with_full_buckets_are_forgotten() -> None:
    clock = Clock()
    a = Admission(LIMITS, clock=clock, table_size=2)
    for name in ("alpha", "beta"):
        a.enter(name)
        a.leave(name)
    a.enter("beta")
    clock.now = 0.5
    a.enter("gamma")  # a full table: alpha's bucket is not full again yet, so it stays
    assert set(a._usage) == {"alpha", "beta", "gamma"}
    clock.now = 5.0
    a.leave("gamma")
    a.enter("delta")
    assert set(a._usage) == {"beta", "delta"}  # beta is still in flight


def test_process_gate_queues_first_come_first_served_then_refuses() -> None:
    async def scenario() -> list[Any]:
        gate = ProcessGate(max_in_flight=1, max_queued=1, wait_seconds=60)
        await gate.enter()
        waiting = asyncio.ensure_future(gate.enter())
        await asyncio.sleep(0)
        assert gate.queued == 1
        with pytest.raises(Overloaded) as full:
            await gate.enter()
        gate.leave()  # hands the slot to the waiter
        await waiting
        assert gate.in_flight == 1 and gate.queued == 0
        gate.leave()
        return [full.value.limit, full.value.status_code, gate.in_flight]

    assert asyncio.run(scenario()) == ["max_queued", 503, 0]


def test_process_gate_refuses_after_the_wait_and_forgets_the_waiter() -> None:
    async def scenario() -> tuple[str, int, int]:
        gate = ProcessGate(max_in_flight=1, max_queued=5, wait_seconds=0.01)
        await gate.enter()
        with pytest.raises(Overloaded) as late:
            await gate.enter()
        gate.leave()
        return late.value.limit, gate.queued, gate.in_flight

    assert asyncio.run(scenario()) == ("queue_wait_seconds", 0, 0)


def test_key_cache_keeps_the_most_recent_keys() -> None:
    cache = KeyCache(size=2)
    cache.remember(b"a", "alpha")
    cache.remember(b"b", "beta")
    assert cache.get(b"a") == "alpha"  # now the most recent
    cache.remember(b"c", "gamma")
    assert cache.get(b"b") is None and cache.get(b"a") == "alpha" and cache.get(b"c") == "gamma"


def test_document_texts_skips_what_the_route_refuses_anyway() -> None:
    s = Settings(max_text_chars=10, max_batch_documents=3)
    assert document_texts({"source_uri": "a", "text": "short"}, s) == ["short"]
    assert document_texts({"documents": [{"text": "one"}, {"text": "x" * 11}, "junk"]}, s) == ["one"]
    assert document_texts({"documents": [{"text": "a"}] * 4}, s) == []
    assert document_texts({"documents": "nope"}, s) == [] and document_texts([1], s) == []


def _refusal(r: httpx.Response | Any, status: int, limit: str, value: float) -> None:
    assert r.status_code == status, r.text
    assert int(r.headers["Retry-After"]) >= 1
    error = r.json()["error"]
    assert error["limit"] == limit and error["value"] == value
    assert limit in error["message"]


def test_rate_limit_answers_429_and_leaves_other_namespaces_alone(settings: Settings, embedder: Any) -> None:
    app = create_app(settings.model_copy(update={"namespace_requests_per_second": 0.01, "namespace_burst": 3}),
                     embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as client:
        alpha, beta = make_test_tenant(client, "alpha"), make_test_tenant(client, "beta")
        for _ in range(3):
            assert client.get("/settings/retrieval", headers=alpha.headers).status_code == 200
        r = client.get("/settings/retrieval", headers=alpha.headers)
        _refusal(r, 429, "namespace_requests_per_second", 0.01)
        assert int(r.headers["Retry-After"]) == 100  # a token every 100 s
        assert client.get("/settings/retrieval", headers=beta.headers).status_code == 200


def _put(base: str, headers: dict[str, str], uri: str, text: str) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=120) as c:
        return c.put("/documents", json={"source_uri": uri, "text": text}, headers=headers)


def test_in_flight_limit_answers_429_while_a_request_is_in_flight(fresh_db: str, embedder: Any) -> None:
    with serve(fresh_db, embedder, Settings(namespace_in_flight=1)) as running:
        alpha, beta = make_tenant(running, "alpha"), make_tenant(running, "beta")
        with ThreadPoolExecutor(1) as pool, namespace_locked(fresh_db, "alpha"):  # the lock goes first
            blocked = pool.submit(_put, running.base_url, alpha, "kb://a", "Alpha's document.")
            wait_until_blocked(fresh_db)
            with httpx.Client(base_url=running.base_url, timeout=60) as c:
                _refusal(c.get("/settings/retrieval", headers=alpha), 429, "namespace_in_flight", 1)
                assert c.get("/settings/retrieval", headers=beta).status_code == 200
                assert _put(running.base_url, beta, "kb://b", "Beta's document.").status_code == 200
        assert blocked.result().status_code == 200
        assert _put(running.base_url, alpha, "kb://c", "Another one.").status_code == 200  # counted out again


def test_ingest_limit_answers_429_while_a_write_is_embedding(fresh_db: str, embedder: Any) -> None:
    with serve(fresh_db, embedder, Settings(namespace_ingest_tokens=20)) as running:
        alpha, beta = make_tenant(running, "alpha"), make_tenant(running, "beta")
        big = "A document long enough to be over twenty tokens on its own, admitted because it is alone."
        with ThreadPoolExecutor(1) as pool, namespace_locked(fresh_db, "alpha"):
            blocked = pool.submit(_put, running.base_url, alpha, "kb://big", big)
            wait_until_blocked(fresh_db)
            _refusal(_put(running.base_url, alpha, "kb://small", "Small."), 429, "namespace_ingest_tokens", 20)
            assert _put(running.base_url, beta, "kb://b", big).status_code == 200
        assert blocked.result().status_code == 200
        assert _put(running.base_url, alpha, "kb://small", "Small.").status_code == 200

