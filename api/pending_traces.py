"""Assemble traces whose row is written after their response (a background task) and is not in the
table yet. A GET for one of them waits for its write here instead of answering 404 for that moment.
Per process: a client keeps its connection, and with it the process that answered the assemble call."""

from __future__ import annotations

import threading
import uuid

WAIT_SECONDS = 5.0  # longest a GET waits for a pending write (it takes milliseconds)


class PendingTraces:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: dict[uuid.UUID, threading.Event] = {}

    def add(self, trace_id: uuid.UUID) -> None:
        with self._lock:
            self._writes.setdefault(trace_id, threading.Event())

    def done(self, trace_id: uuid.UUID) -> None:
        with self._lock:
            written = self._writes.pop(trace_id, None)
        if written is not None:
            written.set()

    def wait(self, trace_id: uuid.UUID, timeout: float = WAIT_SECONDS) -> None:
        """Return once `trace_id`'s write is over (at once when none is pending here)."""
        with self._lock:
            written = self._writes.get(trace_id)
        if written is not None:
            written.wait(timeout)


PENDING = PendingTraces()
