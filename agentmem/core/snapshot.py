"""One snapshot for a read made of several statements.

Pooled connections are in autocommit mode, so each statement sees the database as of its own start:
a document row, its text and its chunks read one after the other can come from two versions when a
writer commits in between. A REPEATABLE READ, READ ONLY transaction makes every statement of the
block see the same committed state; being read-only it takes no locks a writer would wait for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus


@contextmanager
def read_snapshot(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run the block's statements in one snapshot (inside an open transaction: that one's)."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        yield  # already in a transaction: its isolation level decides, and cannot change now
        return
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield
