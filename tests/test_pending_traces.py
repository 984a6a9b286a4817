"""A trace's row is written after its response; a GET for it meanwhile waits for the write (api/pending_traces.py)."""

from __future__ import annotations

import threading
import time
import uuid

from agentmem.api.pending_traces import PendingTraces


def test_a_get_waits_for_a_pending_write_and_not_for_anything_else() -> None:
    pending = PendingTraces()
    trace_id = uuid.uuid4()
    pending.add(trace_id)
    written: list[str] = []

    def write() -> None:
        time.sleep(0.2)
        written.append("row")
        pending.done(trace_id)

    writer = threading.Thread(target=write)
    writer.start()
    pending.wait(trace_id, timeout=30)
    assert written == ["row"]  # the wait ended with the write, not before it
    writer.join()

    # Nothing pending (an unknown id, or one written already): no wait at all.
    for other in (uuid.uuid4(), trace_id):
        waiter = threading.Thread(target=pending.wait, args=(other, 60))
        waiter.start()
        waiter.join(timeout=5)
        assert not waiter.is_alive()


def test_entries_whose_write_never_ran_are_forgotten(monkeypatch) -> None:
    """A client that hangs up before its response gets no background task: its entry must not stay."""
    from agentmem.api import pending_traces

    pending = PendingTraces()
    clock = [1000.0]
    monkeypatch.setattr(pending_traces.time, "monotonic", lambda: clock[0])
    abandoned = uuid.uuid4()
    pending.add(abandoned)
    clock[0] += pending_traces.FORGET_SECONDS + 1
    pending.add(uuid.uuid4())
    waiter = threading.Thread(target=pending.wait, args=(abandoned, 60))
    waiter.start()
    waiter.join(timeout=5)
    assert not waiter.is_alive() and abandoned not in pending._writes
