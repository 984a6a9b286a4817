"""Sending a Call: configuration from arguments or the environment, retries, and the answer read or raised.

The retry decisions are pure (`Retry.after_error`, `Retry.after_failure`); the sync and async runners
only differ in `await`. Retried:
- 429 and 503 (except model_unavailable, which waiting does not fix), for every call: the service refuses
  those before doing any work. The wait is the server's Retry-After (plus up to `jitter` of it), else
  exponential backoff with jitter; a Retry-After above `max_wait` is not waited for but raised.
- a connection that could not be opened, for every call: nothing was sent.
- any other transport failure (reset, read timeout) only for idempotent calls (calls.py says which POSTs).
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from agentmem_client.calls import Call
from agentmem_client.errors import (
    APIError,
    ModelUnavailable,
    Overloaded,
    RateLimited,
    TransportError,
    Unauthorized,
    Unavailable,
    error_for,
)

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Retry:
    """How often and how long to wait before sending a call again."""

    max_retries: int = 3
    backoff: float = 0.5  # the first wait when the server gives no Retry-After; doubled each time
    max_backoff: float = 8.0
    max_wait: float = 60.0  # a longer Retry-After is raised at once rather than slept through
    jitter: float = 0.25  # waits vary by up to this fraction, so refused clients do not come back together
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def _wait(self, attempt: int, retry_after: float | None) -> float | None:
        if attempt >= self.max_retries:
            return None
        if retry_after is not None:
            return None if retry_after > self.max_wait else retry_after * (1 + self.jitter * self.rand())
        return min(self.max_backoff, self.backoff * 2.0 ** attempt) * (1 - self.jitter * self.rand())

    def after_error(self, attempt: int, error: APIError) -> float | None:
        """Seconds to wait before retrying after this error answer, or None to raise it."""
        retryable = isinstance(error, (RateLimited, Overloaded)) or (
            type(error) is Unavailable and not isinstance(error, ModelUnavailable))
        return self._wait(attempt, error.retry_after) if retryable else None

    def after_failure(self, attempt: int, call: Call[Any], failure: httpx.HTTPError) -> float | None:
        """Seconds to wait before retrying after no answer came, or None to raise."""
        unsent = isinstance(failure, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        if unsent or (call.idempotent and isinstance(failure, httpx.TransportError)):
            return self._wait(attempt, None)
        return None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Config:
    """Where the service is and who is asking: arguments first, then AGENTMEM_URL / AGENTMEM_API_KEY /
    AGENTMEM_ADMIN_TOKEN."""

    base_url: str
    api_key: str | None = field(repr=False)  # never in a log line or a traceback's locals
    admin_token: str | None = field(repr=False)
    timeout: httpx.Timeout
    retry: Retry

    @staticmethod
    def resolve(url: str | None, api_key: str | None, admin_token: str | None,
                timeout: float | httpx.Timeout, retry: Retry | None) -> Config:
        base = (url or os.environ.get("AGENTMEM_URL") or DEFAULT_URL).rstrip("/")
        return Config(base, api_key or os.environ.get("AGENTMEM_API_KEY") or None,
                      admin_token or os.environ.get("AGENTMEM_ADMIN_TOKEN") or None,
                      timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout), retry or Retry())

    def secret(self, call: Call[Any]) -> str | None:
        """The bearer token a call is sent with."""
        return {"key": self.api_key, "admin": self.admin_token or self.api_key, "none": None}[call.auth]

    def request(self, call: Call[Any]) -> dict[str, Any]:
        """httpx.request arguments for a call."""
        secret = self.secret(call)
        headers = {"Accept": "application/json", "User-Agent": "agentmem-client/0.1"}
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        return {"method": call.method, "url": self.base_url + call.path, "params": call.params or None,
                "json": call.json, "headers": headers, "timeout": self.timeout}

    def outcome(self, call: Call[Any], response: httpx.Response) -> Any:
        """The parsed answer, or the error it carries, raised."""
        if response.is_success:
            return call.parse(response.content)
        try:
            payload: Any = response.json()
        except ValueError:
            payload = response.text
        error = error_for(response.status_code, payload, retry_after_seconds(response.headers.get("retry-after")))
        if isinstance(error, Unauthorized) and not self.secret(call):
            arg, env = ("admin_token=", "AGENTMEM_ADMIN_TOKEN") if call.auth == "admin" else ("api_key=", "AGENTMEM_API_KEY")
            error.message += f" (this client has no key: pass {arg} or set {env})"
        raise error

    def failed(self, call: Call[Any], failure: httpx.HTTPError) -> TransportError:
        return TransportError(f"{call.method} {self.base_url}{call.path}: {type(failure).__name__}: {failure}")


class SyncRunner:
    def __init__(self, config: Config, http: httpx.Client, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config, self.http, self.sleep = config, http, sleep

    def send(self, call: Call[Any]) -> Any:
        attempt = 0
        while True:
            try:
                response = self.http.request(**self.config.request(call))
            except httpx.HTTPError as failure:
                wait = self.config.retry.after_failure(attempt, call, failure)
                if wait is None:
                    raise self.config.failed(call, failure) from failure
            else:
                try:
                    return self.config.outcome(call, response)
                except APIError as error:
                    wait = self.config.retry.after_error(attempt, error)
                    if wait is None:
                        raise
            self.sleep(wait)
            attempt += 1


class AsyncRunner:
    def __init__(self, config: Config, http: httpx.AsyncClient,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config, self.http, self.sleep = config, http, sleep

    async def send(self, call: Call[Any]) -> Any:
        attempt = 0
        while True:
            try:
                response = await self.http.request(**self.config.request(call))
            except httpx.HTTPError as failure:
                wait = self.config.retry.after_failure(attempt, call, failure)
                if wait is None:
                    raise self.config.failed(call, failure) from failure
            else:
                try:
                    return self.config.outcome(call, response)
                except APIError as error:
                    wait = self.config.retry.after_error(attempt, error)
                    if wait is None:
                        raise
            await self.sleep(wait)
            attempt += 1
