"""The `reembed` job: bring a namespace's vectors up to date (embeddings/reembed.py does the work).

Queued on demand (POST /jobs/reembed, PUT /settings/embedding, `agentmem reembed`) and by the
scheduler every `reembed_every_seconds` for the namespaces that need it (jobs/kinds.py).
"""

from __future__ import annotations

from typing import Any

from agentmem.embeddings.reembed import reembed_namespace
from agentmem.jobs.context import JobContext
from agentmem.jobs.queue import Job
from agentmem.jobs.worker import Progress


def run(ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
    assert job.namespace_id is not None
    return reembed_namespace(ctx.pool, ctx.embedders, ctx.default_model, job.namespace_id,
                             ctx.settings.reembed_batch_size, progress)
