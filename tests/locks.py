"""Hold a request still inside the service: lock what it needs, and wait until it waits for the lock."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import psycopg


@contextmanager
def namespace_locked(url: str, name: str) -> Iterator[None]:
    """The namespace's row FOR UPDATE: its writes (which take it FOR SHARE) wait; reads and other
    namespaces go on."""
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1 FROM namespaces WHERE name = %s FOR UPDATE", (name,)).fetchone()
        try:
            yield
        finally:
            conn.rollback()


def wait_until_blocked(url: str, waiters: int = 1) -> None:
    """Until `waiters` sessions of this database wait for a lock (a request is then inside the service)."""
    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                               " AND wait_event_type = 'Lock'").fetchone()
            if row and row[0] >= waiters:
                return
            if time.monotonic() > deadline:
                raise AssertionError("no request ever waited for the lock")
            time.sleep(0.02)
