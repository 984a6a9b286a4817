"""A bounded, thread-safe cache of recent answers, for lookups a request would otherwise repeat.

Least recently used entries go first once `size` are held, so a caller sending endless new keys (a
tenant's random words, a flood of keys) costs memory up to `size`, never more. With `ttl_seconds`,
an entry older than that is gone: what it caches may change, and a stale answer must not outlive
that bound. What is cached here is a shortcut only; the database stays the record.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class RecentCache(Generic[K, V]):
    def __init__(self, size: int, ttl_seconds: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.size, self.ttl_seconds, self._clock = size, ttl_seconds, clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value held for `key`, or `default` when there is none (or it has expired)."""
        with self._lock:
            entry = self._entries.get(key, _MISSING)
            if entry is _MISSING:
                return default
            stored, value = entry  # type: ignore[misc]
            if self.ttl_seconds is not None and self._clock() - stored >= self.ttl_seconds:
                del self._entries[key]
                return default
            self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
