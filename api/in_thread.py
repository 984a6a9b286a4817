"""The service under test: the real app on uvicorn at 127.0.0.1, on an embedded (or given) PostgreSQL."""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import uvicorn

from agentmem.core.database import start_embedded
from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from agentmem.embeddings.base import Embedder


@dataclass(frozen=True)
class Running:
    base_url: str
    database_url: str
    admin_token: str


@contextmanager
def embedded_database() -> Iterator[str]:
    """A throwaway PostgreSQL under /tmp (pgserver, as root, needs world-traversable parents)."""
    folder = Path(tempfile.mkdtemp(prefix="agentmem-bench-", dir="/tmp"))
    database = start_embedded(folder / "pgdata")
    try:
        yield database.url
    finally:
        database.close()
        # The server may still be writing its shutdown checkpoint: retry until the folder is gone.
        for _ in range(50):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                break
            time.sleep(0.2)


@contextmanager
def serve(database_url: str, embedder: Embedder, settings: Settings | None = None,
          scheduler: bool = False) -> Iterator[Running]:
    """Run create_app on uvicorn in a thread; the app shares `embedder` (and its lock) with the caller.
    The job scheduler runs only when asked: most benchmarks measure requests alone."""
    token = "bench-" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="agentmem-bench-data-", dir="/tmp") as data_dir:
        base = settings or Settings()
        settings = base.model_copy(
            update={"database_url": database_url, "data_dir": Path(data_dir), "admin_token": token,
                    "scheduler": scheduler}
        )
        app = create_app(settings, embedder=embedder)
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP. Without it
        # a response written as headers then body waits for the client's delayed ACK: +40 ms a request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=600))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 120
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("the app did not start (see the log above)")
                time.sleep(0.05)
            yield Running(f"http://127.0.0.1:{port}", database_url, token)
        finally:
            server.should_exit = True
            thread.join(timeout=60)
            sock.close()


def make_tenant(running: Running, name: str) -> dict[str, str]:
    """Create a namespace and a key through the admin API; return the key's request headers."""
    import httpx  # a client's dependency (tests, benchmarks), not the service's

    admin = {"Authorization": f"Bearer {running.admin_token}"}
    with httpx.Client(base_url=running.base_url, timeout=60) as client:
        client.post("/admin/namespaces", json={"name": name}, headers=admin).raise_for_status()
        r = client.post(f"/admin/namespaces/{name}/keys", json={"label": "bench"}, headers=admin)
        r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['key']}"}
