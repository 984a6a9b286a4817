"""An HTTP client that honours 429/503 as the README tells agents to: sleep Retry-After, then resend.

A sequential quality benchmark is one agent asking as fast as it can; on a fast machine keyword
searches (~5 ms) outrun the namespace's token bucket (100 a second, burst 200) and the service refuses
the rest with 429. The benchmark measures rankings, not admission, so it waits as a client should.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from agentmem_client.runner import retry_after_seconds

RETRYABLE = (429, 503)
MAX_ATTEMPTS = 20


class HonourRetryAfter(httpx.BaseTransport):
    """Resend a refused request after its Retry-After (1 s without one), up to MAX_ATTEMPTS sends."""

    def __init__(self, inner: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(MAX_ATTEMPTS - 1):
            response = self.inner.handle_request(request)
            if response.status_code not in RETRYABLE:
                return response
            response.read()
            response.close()
            wait = retry_after_seconds(response.headers.get("Retry-After"))  # the client's parsing: seconds or a date
            self.sleep(1.0 if wait is None else wait)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def client(base_url: str, timeout: Any) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=timeout, transport=HonourRetryAfter())
