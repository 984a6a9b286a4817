"""The FastAPI application: lifespan opens the database, migrates, loads the embedder; routers do the rest."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import psycopg
from anyio import to_thread
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentmem.core.admin_token import resolve_admin_token
from agentmem.core.database import check_pgvector, open_database, open_pool
from agentmem.core.migrate import migrate
from agentmem.api.services import Services
from agentmem.core.settings import Settings
from agentmem.api.admission_middleware import AdmissionMiddleware, Gatekeeper
from agentmem.api.body_depth import BodyDepthLimit
from agentmem.api import openapi_errors, tracing
from agentmem.api.errors import error_body, install_error_handlers
from agentmem.api.mcp.mount import install as install_mcp
from agentmem.api.process_metrics import MetricsMiddleware, ProcessMetrics
from agentmem.api.routes import (
    admin, documents, freshness, jobs, keys, metrics, models, probes, quarantine, retrieval, tasks, trust, ui,
)
from agentmem.embeddings.base import Embedder
from agentmem.embeddings.catalog import service_embedders
from agentmem.embeddings.models import default_model
from agentmem.embeddings.registry import Embedders
from agentmem.memory.namespaces import hash_key

log = logging.getLogger("agentmem")


class BodyLimit:
    """Refuse request bodies above max_body_bytes with 413, before they are read into memory."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge(413, self._message())
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send)

    def _message(self) -> str:
        return f"request body is over {self.max_bytes:,} bytes (AGENTMEM_MAX_BODY_BYTES); send less per request"

    async def _refuse(self, send: Send) -> None:
        import json

        body = json.dumps(error_body("payload_too_large", self._message())).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(StarletteHTTPException):
    """An HTTPException so that FastAPI, reading the body, passes it on instead of answering 400."""


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    embedders: Embedders | None = None,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    """Build the app; the database and model are opened when it starts, not at import time.

    `embedder`: an already loaded model to use as the default (tests, benchmarks); `embedders`: the
    whole set of models (default: the catalogue, with AGENTMEM_EMBEDDING_MODEL as the default).
    `tracer_provider`: where spans go (default: as the OTEL_* variables say; none: no tracing).
    """
    settings = settings or Settings()
    provider = tracer_provider or tracing.provider_from_env(os.environ)
    process_metrics = ProcessMetrics()
    keeper = Gatekeeper.of(settings, process_metrics.refused)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = open_database(settings.database_url, settings.data_dir)
        try:
            with psycopg.connect(database.url, autocommit=True) as conn:
                check_pgvector(conn)
            migrate(database.url)
            pool = open_pool(database.url, settings.pool_min_size, settings.pool_size(), settings.pool_timeout_seconds)
            try:
                models = embedders or service_embedders(settings, [embedder] if embedder else [])
                models.get(models.default)  # load the default model now, not on the first request
                with pool.connection() as conn:
                    default = default_model(conn, models)
                token, path = resolve_admin_token(settings)
                if path is not None:
                    log.warning("admin token is in %s", path)
                app.state.admin_token = token
                executor = ThreadPoolExecutor(max_workers=settings.io_threads, thread_name_prefix="agentmem-io")
                # Sync routes and dependencies run on anyio's threads (40 by default): one per admitted
                # request, and a few for what admission lets by (/healthz, /metrics).
                limiter = to_thread.current_default_thread_limiter()
                limiter.total_tokens = max(limiter.total_tokens, settings.max_in_flight + 8)
                process_metrics.watch(pool, keeper.gate)
                services = Services(pool=pool, embedders=models, settings=settings, default_model=default,
                                    executor=executor)
                app.state.services = services
                scheduler = None
                if settings.scheduler:
                    from agentmem.jobs.queue import worker_name
                    from agentmem.jobs.scheduler import start as start_scheduler

                    scheduler = start_scheduler(services.jobs, worker_name())
                try:
                    async with mcp.run():
                        yield
                finally:
                    if scheduler is not None:
                        scheduler.shutdown(wait=True)
                    executor.shutdown(wait=True)
                    models.close()  # the models' scheduler threads (embeddings/scheduler.py)
            finally:
                pool.close()
        finally:
            database.close()
            if provider is not None and tracer_provider is None:
                provider.shutdown()  # flushes the spans still batched for the OTLP exporter

    app = FastAPI(title="agentmem", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = process_metrics
    app.state.keeper = keeper
    app.state.on_refused = process_metrics.refused
    app.state.tracing = tracing.Tracing(provider.get_tracer("agentmem"), settings.trace_query_text) if provider else None
    routers = [admin.router, keys.router, tasks.router, documents.router, retrieval.router, models.router,
               jobs.router, freshness.router, probes.router, quarantine.router, trust.router, metrics.router, ui.router]
    # The last added runs first: metrics see every answer, admission runs before the body is read.
    app.add_middleware(BodyDepthLimit, max_depth=settings.max_json_depth)  # inside BodyLimit: added first
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AdmissionMiddleware, keeper=keeper, hash_key=hash_key)
    app.add_middleware(MetricsMiddleware, metrics=process_metrics,
                       routes=lambda: [route for router in routers for route in router.routes])
    if app.state.tracing is not None:  # outermost: the request's span covers every answer, refusals too
        app.add_middleware(tracing.TracingMiddleware, tracing=app.state.tracing)
    install_error_handlers(app)
    openapi_errors.install(app, keeper.exempt)
    for router in routers:
        app.include_router(router)
    mcp = install_mcp(app)  # /mcp: the API as MCP tools (api/mcp/)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, Any]:
        return {"status": "ok"}

    return app

