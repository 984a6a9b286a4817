"""The benchmarks' client waits out 429/503 and resends the same request; other answers pass through."""

import httpx

from benchmarks.polite import MAX_ATTEMPTS, HonourRetryAfter


def test_refused_requests_are_resent_after_retry_after() -> None:
    bodies: list[bytes] = []
    answers = iter([httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(503), httpx.Response(200, json={"ok": 1})])

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        return next(answers)

    slept: list[float] = []
    with httpx.Client(base_url="http://svc", transport=HonourRetryAfter(httpx.MockTransport(handler), slept.append)) as c:
        r = c.post("/search", json={"query": "q"})
    assert r.status_code == 200 and r.json() == {"ok": 1}
    assert slept == [2.0, 1.0]
    assert bodies == [b'{"query":"q"}'] * 3


def test_gives_up_with_the_last_refusal_and_passes_errors_through() -> None:
    sent = []

    def refuse(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(429, headers={"Retry-After": "0"})

    with httpx.Client(base_url="http://svc", transport=HonourRetryAfter(httpx.MockTransport(refuse), lambda s: None)) as c:
        assert c.get("/x").status_code == 429
    assert len(sent) == MAX_ATTEMPTS
    with httpx.Client(base_url="http://svc",
                      transport=HonourRetryAfter(httpx.MockTransport(lambda r: httpx.Response(422)), lambda s: 1 / 0)) as c:
        assert c.get("/x").status_code == 422
