"""Every kind of background job, in one table: the function that runs it and when it is scheduled.

Adding a kind means a row here (and the kind in the `jobs.kind` CHECK constraint, by migration).
Nothing registers itself on import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import psycopg

from agentmem.embeddings.reembed import due_namespaces
from agentmem.jobs import probe_store, probes, reembed, retention
from agentmem.jobs.worker import Handler


@dataclass(frozen=True)
class Kind:
    run: Handler
    due: Callable[[psycopg.Connection[Any]], Sequence[int | None]]  # namespaces needing a job now (None: global)
    every_setting: str  # the Settings field with the scheduling interval in seconds (0: only on demand)


KINDS: dict[str, Kind] = {
    "reembed": Kind(reembed.run, due_namespaces, "reembed_every_seconds"),
    "probes": Kind(probes.run, probe_store.namespaces_with_probes, "probes_every_seconds"),
    "retention": Kind(retention.run, retention.due, "retention_every_seconds"),
}

HANDLERS: dict[str, Handler] = {name: kind.run for name, kind in KINDS.items()}
