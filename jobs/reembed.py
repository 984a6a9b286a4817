"""The `reembed` job: bring a namespace's vectors up to date (embeddings/reembed.py does the work).

Queued on demand (POST /jobs/reembed, PUT /settings/embedding, `agentmem reembed`) and by the
scheduler every `reembed_every_seconds` for the namespaces that need it.
"""

from __future__ import annotations

from typing import Any

from agentmem.api.services import Services
from agentmem.embeddings.reembed import due_namespaces, reembed_namespace
from agentmem.jobs.queue import Job
from agentmem.jobs.scheduler import schedule
from agentmem.jobs.worker import Progress, handler


@handler("reembed")
def run(services: Services, job: Job, progress: Progress) -> dict[str, Any]:
    return reembed_namespace(services.pool, services.embedders, services.default_model, job.namespace_id,
                             services.settings.reembed_batch_size, progress)


schedule("reembed", due_namespaces, "reembed_every_seconds")
