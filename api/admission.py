"""Admission control: what one namespace may ask of a process, and what the process takes at once.

Per namespace: requests in flight, requests per second (a token bucket) and tokens of document text
being ingested; above one, 429. Per process: requests worked on at once, with a bounded FIFO queue
in front; when the queue is full or a request waited too long, 503. Both answers carry Retry-After and
a message naming the limit and its value. Every count is kept in this process only (per process).
Pure bookkeeping, tested without a server; api/admission_middleware.py applies it to requests.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Mapping

from agentmem.core.errors import Overloaded, RateLimited
from agentmem.core.recent import RecentCache
from agentmem.core.settings import Settings


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; a request takes one."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is (nothing taken)."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class Limits:
    in_flight: int
    requests_per_second: float
    burst: int
    ingest_tokens: int

    @staticmethod
    def of(settings: Settings) -> tuple[Limits, dict[str, Limits]]:
        """The service-wide limits, and each overridden namespace's (AGENTMEM_NAMESPACE_LIMITS)."""
        default = Limits(settings.namespace_in_flight, settings.namespace_requests_per_second,
                         settings.namespace_burst, settings.namespace_ingest_tokens)
        overrides = {
            name: Limits(**{k: v if v is not None else getattr(default, k) for k, v in o.model_dump().items()})
            for name, o in settings.namespace_limits.items()
        }
        return default, overrides


@dataclass
class _Usage:
    limits: Limits
    bucket: TokenBucket
    in_flight: int = 0
    ingest_tokens: int = 0


class Admission:
    """Per-namespace counts behind one lock: entered from the event loop and from worker threads."""

    def __init__(self, default: Limits, overrides: Mapping[str, Limits] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, retry_after: int = 1, table_size: int = 1024) -> None:
        self.default = default
        self.overrides = dict(overrides or {})
        self.clock = clock
        self.retry_after = retry_after
        self.table_size = table_size  # namespaces counted before idle ones are forgotten
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def limits(self, namespace: str) -> Limits:
        return self.overrides.get(namespace, self.default)

    def _get(self, namespace: str) -> _Usage:
        u = self._usage.get(namespace)
        if u is None:
            if len(self._usage) >= self.table_size:
                self._sweep()
            lim = self.limits(namespace)
            u = _Usage(lim, TokenBucket(lim.requests_per_second, lim.burst, lim.burst, self.clock()))
            self._usage[namespace] = u
        return u

    def enter(self, namespace: str) -> None:
        """Count a request in, or refuse it (429) naming the limit; leave() counts it out."""
        with self._lock:
            u = self._get(namespace)
            lim = u.limits
            if u.in_flight >= lim.in_flight:
                raise RateLimited(
                    f"namespace {namespace!r} already has {u.in_flight} requests in flight; its limit is "
                    f"{lim.in_flight} at once per process (namespace_in_flight). Retry after Retry-After "
                    "seconds, or send fewer requests at once",
                    retry_after=self.retry_after, limit="namespace_in_flight", value=lim.in_flight,
                    reason="in_flight", namespace=namespace)
            wait = u.bucket.take(self.clock())
            if wait > 0:
                raise RateLimited(
                    f"namespace {namespace!r} is over its rate limit of {lim.requests_per_second:g} requests/s "
                    f"per process (namespace_requests_per_second, bursts of {lim.burst}); retry in "
                    f"{wait:.2f} s, and spread requests out",
                    retry_after=math.ceil(wait), limit="namespace_requests_per_second",
                    value=lim.requests_per_second, reason="rate", namespace=namespace)
            u.in_flight += 1

    def leave(self, namespace: str) -> None:
        with self._lock:
            u = self._usage[namespace]
            u.in_flight -= 1

    def enter_ingest(self, namespace: str, tokens: int) -> None:
        """Count `tokens` of text in, or refuse (429). A request larger than the limit is let in when the
        namespace ingests nothing else (the size limits, 413, bound it), so that it is not refused forever."""
        with self._lock:
            u = self._get(namespace)
            limit = u.limits.ingest_tokens
            if u.ingest_tokens and u.ingest_tokens + tokens > limit:
                raise RateLimited(
                    f"namespace {namespace!r} is already ingesting {u.ingest_tokens:,} tokens of document text and "
                    f"this request adds {tokens:,}; its limit is {limit:,} tokens at once per process "
                    "(namespace_ingest_tokens). Retry after Retry-After seconds, or send smaller batches",
                    retry_after=self.retry_after, limit="namespace_ingest_tokens", value=limit,
                    reason="ingest", namespace=namespace)
            u.ingest_tokens += tokens

    def leave_ingest(self, namespace: str, tokens: int) -> None:
        with self._lock:
            u = self._usage[namespace]
            u.ingest_tokens -= tokens

    def in_flight(self, namespace: str) -> int:
        with self._lock:
            u = self._usage.get(namespace)
            return u.in_flight if u else 0

    def _sweep(self) -> None:
        """Keep the table to active namespaces: an idle one with a full bucket is as good as new."""
        now = self.clock()
        for name, u in list(self._usage.items()):
            if not u.in_flight and not u.ingest_tokens:
                u.bucket.refill(now)
                if u.bucket.tokens >= u.bucket.burst:
                    del self._usage[name]


class ProcessGate:
    """At most `max_in_flight` requests at once; up to `max_queued` more wait, first come first
    served, for at most `wait_seconds`. Used from the event loop only."""

    def __init__(self, max_in_flight: int, max_queued: int, wait_seconds: float, retry_after: int = 1) -> None:
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.wait_seconds = wait_seconds
        self.retry_after = retry_after
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    async def enter(self) -> None:
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            return
        if len(self._waiters) >= self.max_queued:
            raise self._refusal("queue_full")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await asyncio.wait({turn}, timeout=self.wait_seconds)
        except BaseException:  # cancelled (the client went away): give back a slot handed over meanwhile
            self._give_up(turn)
            raise
        if not turn.done():
            self._give_up(turn)
            raise self._refusal("queue_timeout")

    def leave(self) -> None:
        """Hand the slot to the longest waiter (the count stays), or free it."""
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.in_flight -= 1

    def _give_up(self, turn: asyncio.Future[None]) -> None:
        if turn.done() and not turn.cancelled():
            self.leave()  # the slot was ours already
        else:
            turn.cancel()
            if turn in self._waiters:
                self._waiters.remove(turn)

    def _refusal(self, reason: str) -> Overloaded:
        if reason == "queue_full":
            message = (f"this server process has {self.in_flight} requests in flight and {len(self._waiters)} waiting, "
                       f"its limits (max_in_flight {self.max_in_flight}, max_queued {self.max_queued}); retry after "
                       "Retry-After seconds")
            return Overloaded(message, retry_after=self.retry_after, limit="max_queued", value=self.max_queued,
                              reason=reason)
        message = (f"waited {self.wait_seconds:g} s (queue_wait_seconds) for one of this server process's "
                   f"{self.max_in_flight} request slots (max_in_flight); retry after Retry-After seconds")
        return Overloaded(message, retry_after=self.retry_after, limit="queue_wait_seconds",
                          value=self.wait_seconds, reason=reason)


class KeyCache:
    """Key hash -> namespace name, for admission only (the key lookup still decides who calls)."""

    def __init__(self, size: int = 10_000) -> None:
        self._names: RecentCache[bytes, str] = RecentCache(size)

    def get(self, key_hash: bytes) -> str | None:
        return self._names.get(key_hash)

    def forget(self, key_hash: bytes) -> None:
        """A key refused (revoked, expired): its requests are no longer counted in its namespace."""
        self._names.pop(key_hash)

    def remember(self, key_hash: bytes, namespace: str) -> None:
        self._names.put(key_hash, namespace)
