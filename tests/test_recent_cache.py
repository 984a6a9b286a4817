"""The bounded cache behind the key-to-namespace map and the query's common words."""

from __future__ import annotations

import threading

import pytest

from agentmem.core.recent import RecentCache


def test_least_recently_used_goes_first_when_full() -> None:
    cache: RecentCache[str, int] = RecentCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2


def test_an_entry_expires_after_its_time_and_a_new_put_restarts_it() -> None:
    now = [100.0]
    cache: RecentCache[str, str] = RecentCache(size=10, ttl_seconds=60, clock=lambda: now[0])
    cache.put("w", "common")
    now[0] = 159.9
    assert cache.get("w") == "common"  # reading does not extend its time
    now[0] = 160.0
    assert cache.get("w", "gone") == "gone" and len(cache) == 0
    cache.put("w", "distinct")
    now[0] = 219.0
    assert cache.get("w") == "distinct"


def test_pop_and_a_stored_falsy_value() -> None:
    cache: RecentCache[str, int] = RecentCache(size=3)
    cache.put("zero", 0)
    assert cache.get("zero", -1) == 0
    cache.pop("zero")
    cache.pop("never there")
    assert cache.get("zero", -1) == -1
    with pytest.raises(ValueError):
        RecentCache(size=0)


def test_many_threads_never_exceed_the_size() -> None:
    cache: RecentCache[tuple[int, int], int] = RecentCache(size=100)

    def work(t: int) -> None:
        for i in range(2_000):
            cache.put((t, i), i)
            cache.get((t, i - 1))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) == 100
    held = [k for t in range(8) for k in [(t, i) for i in range(2_000)] if cache.get(k) is not None]
    assert len(held) == 100 and all(cache.get(k) == k[1] for k in held)  # the newest 100, each its own value
