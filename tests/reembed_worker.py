"""Run by test_reembed_processes in a subprocess: a worker process of the re-embedding job.

`crash`: claim the job (polling) and run it, announcing each batch the new model embeds, until the
test kills it with SIGKILL. `race`: wait for "go" on stdin, then run whatever job it can claim
until the namespace's job is finished, and report what it ran and how many texts it embedded.
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

from agentmem.jobs import queue, reembed, worker
from reembed_helpers import NEW, CountingEmbedder, embedders, services_for


def main(url: str, mode: str, data_dir: str, job_id: str) -> None:
    new = CountingEmbedder(NEW, announce=mode == "crash")
    stale = 0.3 if mode == "crash" else 60.0  # crash: take over the killed worker's job quickly
    with services_for(url, embedders(new), Path(data_dir), reembed_batch_size=8,
                      job_stale_after_seconds=stale) as services:
        name = queue.worker_name()
        ran: list[str] = []
        if mode == "race":
            print("ready", flush=True)
            sys.stdin.readline()
        while True:
            job = worker.run_one(services.jobs, name, {"reembed": reembed.run})
            if job is not None:
                ran.append(str(job.id))
            with services.pool.connection() as conn:
                status = conn.execute("SELECT status FROM jobs WHERE id = %s", (uuid.UUID(job_id),)).fetchone()[0]
            if status in ("done", "failed"):
                break
            time.sleep(0.02)
        print(f"ran {','.join(ran) or '-'} embedded {new.texts}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
