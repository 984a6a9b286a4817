"""Assemble traces whose row is written after their response (a background task) and is not in the
table yet. A GET for one of them waits for its write here instead of answering 404 for that moment.
Per process: a client keeps its connection, and with it the process that answered the assemble call."""

from __future__ import annotations

import threading
import time
import uuid

WAIT_SECONDS = 5.0  # longest a GET waits for a pending write (it takes milliseconds)
# A background task does not run when its client left before the response was sent: its entry is
# dropped this long after it was added, so clients that hang up cannot grow the registry.
FORGET_SECONDS = 60.0


class PendingTraces:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writes: dict[uuid.UUID, tuple[float, threading.Event]] = {}  # oldest first

    def add(self, trace_id: uuid.UUID) -> None:
        now = time.monotonic()
        with self._lock:
            while self._writes:
                oldest = next(iter(self._writes))
                if now - self._writes[oldest][0] < FORGET_SECONDS:
                    break
                self._writes.pop(oldest)[1].set()
            self._writes.setdefault(trace_id, (now, threading.Event()))

    def done(self, trace_id: uuid.UUID) -> None:
        with self._lock:
            pending = self._writes.pop(trace_id, None)
        if pending is not None:
            pending[1].set()

    def wait(self, trace_id: uuid.UUID, timeout: float = WAIT_SECONDS) -> None:
        """Return once `trace_id`'s write is over (at once when none is pending here)."""
        with self._lock:
            pending = self._writes.get(trace_id)
        if pending is not None:
            pending[1].wait(timeout)


PENDING = PendingTraces()
