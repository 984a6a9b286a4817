"""The MCP server through the official SDK's client, over streamable HTTP (/mcp in the served app) and over
stdio (`agentmem mcp --url ...` spawned as a desktop agent would), against the real service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from locks import namespace_locked, wait_until_blocked
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from agentmem.api.in_thread import Running, make_tenant, serve
from agentmem.core.settings import Settings

AGENTMEM = str(Path(sys.executable).parent / "agentmem")
TRANSPORTS = ["http", "stdio"]
UNKNOWN = "0190a8f2-6c1e-7b3a-9d4e-5f6a7b8c9d0e"


def key_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@asynccontextmanager
async def connect(running: Running, key: str, transport: str) -> AsyncIterator[Client]:
    """"http" or "stdio"; "-legacy" for the initialize handshake of 2025 clients (desktop agents today)."""
    mode = "legacy" if transport.endswith("-legacy") else "auto"
    if transport.startswith("http"):
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        transport_ = streamable_http_client(f"{running.base_url}/mcp", http_client=http)
        async with http, Client(transport_, mode=mode) as client:
            assert (client.protocol_version < "2026") == (mode == "legacy")
            yield client
    else:
        params = StdioServerParameters(command=AGENTMEM, args=["mcp", "--url", running.base_url],
                                       env={"AGENTMEM_API_KEY": key})
        async with Client(params, mode=mode) as client:
            assert (client.protocol_version < "2026") == (mode == "legacy")
            yield client


def run(running: Running, key: str, transport: str, body: Callable[[Client], Awaitable[None]]) -> None:
    async def main() -> None:
        async with connect(running, key, transport) as client:
            await body(client)

    anyio.run(main)


async def call(client: Client, name: str, arguments: dict[str, Any]) -> Any:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert json.loads(result.content[0].text) is not None  # the API's JSON, as text for the model
    return result.structured_content


async def error(client: Client, name: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error, result.content
    return result.content[0].text


@pytest.fixture
def running(fresh_db: str, embedder: Any) -> Iterator[Running]:
    with serve(fresh_db, embedder) as r:
        yield r


@pytest.fixture
def alpha(running: Running) -> dict[str, str]:
    return make_tenant(running, "alpha")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_lists_the_tools_with_schemas_and_hints(running: Running, alpha: dict[str, str], transport: str) -> None:
    async def body(client: Client) -> None:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == {"assemble_context", "search_memory", "add_memory", "write_scratchpad",
                              "list_unsourced_claims", "complete_task", "get_task", "create_task",
                              "delete_memory", "get_freshness"}
        for tool in tools.values():
            assert tool.description and tool.input_schema["type"] == "object"
            hints = tool.annotations
            assert hints is not None and hints.open_world_hint is False
            assert None not in (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint)
        assert tools["search_memory"].annotations.read_only_hint is True  # type: ignore[union-attr]
        assert tools["delete_memory"].annotations.destructive_hint is True  # type: ignore[union-attr]
        assert tools["assemble_context"].input_schema["required"] == ["query", "budget_tokens"]

    run(running, key_of(alpha), transport, body)


@pytest.mark.parametrize("transport", [*TRANSPORTS, "http-legacy", "stdio-legacy"])
def test_an_agent_loop_through_every_tool(running: Running, alpha: dict[str, str], transport: str) -> None:
    hnsw = {"source_uri": "https://example.com/hnsw", "title": "HNSW notes",
            "text": "HNSW builds a layered proximity graph. Queries descend the layers greedily."}
    seen: dict[str, Any] = {}

    async def body(client: Client) -> None:
        task = await call(client, "create_task", {
            "goal": "Recommend a vector index", "constraints": ["cite every claim"],
            "pinned": [{"label": "budget", "text": "Hardware budget: one 64 GB server."}]})
        assert (await call(client, "get_task", {"task_id": task["id"]}))["goal"] == "Recommend a vector index"
        fact = await call(client, "write_scratchpad", {
            "task_id": task["id"], "kind": "fact", "step": 1,
            "content": "pgvector 0.8 adds iterative index scans for filtered HNSW queries.",
            "citations": [{"source": "https://github.com/pgvector/pgvector", "locator": "CHANGELOG"}]})
        claim = await call(client, "write_scratchpad", {
            "task_id": task["id"], "kind": "fact", "content": "It is probably fast enough.", "unsourced": True})
        unsourced = await call(client, "list_unsourced_claims", {"task_id": task["id"]})
        assert [e["id"] for e in unsourced["items"]] == [claim["id"]]
        memory = await call(client, "add_memory", {"text": "The user prefers metric units.", "kind": "preference",
                                                   "source": "chat:2026-11-20"})
        doc = await call(client, "add_memory", hnsw)
        assert doc["status"] == "created"
        assert (await call(client, "add_memory", hnsw))["status"] == "unchanged"
        found = await call(client, "search_memory", {"query": "how does HNSW search work", "k": 3})
        assert found["results"][0]["document_id"] == doc["id"]
        ctx = await call(client, "assemble_context", {"task_id": task["id"], "query": "which index for HNSW graphs?",
                                                      "budget_tokens": 400})
        assert ctx["tokens"] <= 400
        for text in ("one 64 GB server", "iterative index scans", "layered proximity graph"):
            assert text in ctx["context"]
        fresh = await call(client, "get_freshness", {"worst": 1})
        assert fresh["documents"] >= 1 and len(fresh["worst"]) == 1
        done = await call(client, "complete_task", {"task_id": task["id"], "outcome": "pgvector with HNSW"})
        assert done["task"]["status"] == "completed" and "iterative index scans" in done["summary"]
        receipt = await call(client, "delete_memory", {"document_id": memory["id"]})
        assert receipt["id"] == memory["id"]
        seen.update(task=task["id"], fact=fact["id"], memory=memory["id"], doc=doc["id"])

    run(running, key_of(alpha), transport, body)
    # What the tools did is in the service, as its own API shows it.
    with httpx.Client(base_url=running.base_url, headers=alpha, timeout=60) as api:
        assert api.get(f"/tasks/{seen['task']}").json()["status"] == "completed"
        assert api.get(f"/documents/{seen['memory']}").status_code == 404
        assert api.get(f"/documents/{seen['doc']}").json()["source_uri"] == hnsw["source_uri"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_api_errors_come_back_as_tool_errors_with_the_api_message(
        running: Running, alpha: dict[str, str], transport: str) -> None:
    with httpx.Client(base_url=running.base_url, headers=alpha, timeout=60) as api:
        missing = api.get(f"/tasks/{UNKNOWN}").json()["error"]["message"]
        task = api.post("/tasks", json={"goal": "g"}).json()["id"]
        uncited = api.post(f"/tasks/{task}/scratchpad", json={"kind": "fact", "content": "x"}).json()["error"]
        api.post(f"/tasks/{task}/complete", json={}).raise_for_status()
        twice = api.post(f"/tasks/{task}/complete", json={}).json()["error"]["message"]

    async def body(client: Client) -> None:
        assert await error(client, "get_task", {"task_id": UNKNOWN}) == f"{missing} (HTTP 404 not_found)"
        assert await error(client, "complete_task", {"task_id": task}) == f"{twice} (HTTP 409 conflict)"
        text = await error(client, "write_scratchpad", {"task_id": task, "kind": "fact", "content": "x"})
        assert uncited["message"] in text and "HTTP 4" in text
        assert "budget_tokens" in await error(client, "assemble_context", {"query": "q", "budget_tokens": 0})
        assert "must be a UUID" in await error(client, "get_task", {"task_id": "../admin/namespaces"})

    run(running, key_of(alpha), transport, body)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_key_of_another_namespace_sees_nothing_of_this_one(
        running: Running, alpha: dict[str, str], transport: str) -> None:
    beta = make_tenant(running, "beta")
    with httpx.Client(base_url=running.base_url, headers=alpha, timeout=60) as api:
        task = api.post("/tasks", json={"goal": "Alpha's secret plan"}).json()["id"]
        doc = api.put("/documents", json={"source_uri": "kb://alpha", "text": "Alpha's launch date is May 3."}).json()

    async def body(client: Client) -> None:
        assert "no task" in await error(client, "get_task", {"task_id": task})
        assert "HTTP 404" in await error(client, "list_unsourced_claims", {"task_id": task})
        assert "HTTP 404" in await error(client, "write_scratchpad", {"task_id": task, "kind": "note", "content": "x"})
        assert "HTTP 404" in await error(client, "delete_memory", {"document_id": doc["id"]})
        assert (await call(client, "search_memory", {"query": "Alpha's launch date"}))["results"] == []
        ctx = await call(client, "assemble_context", {"query": "Alpha's launch date", "budget_tokens": 300})
        assert "May 3" not in json.dumps(ctx)
        assert (await call(client, "get_freshness", {}))["documents"] == 0

    run(running, key_of(beta), transport, body)
    with httpx.Client(base_url=running.base_url, headers=alpha, timeout=60) as api:
        assert api.get(f"/documents/{doc['id']}").status_code == 200  # beta's delete touched nothing


def test_mcp_over_http_answers_401_without_a_valid_key(running: Running, alpha: dict[str, str]) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"Accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=running.base_url, timeout=60) as http:
        for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"Authorization": f"Bearer {running.admin_token}"}):
            r = http.post("/mcp", json=message, headers={**accept, **headers})
            assert r.status_code == 401, r.text
            assert r.json()["error"]["code"] == "unauthorized"
        assert http.post("/mcp", json=message, headers={**accept, **alpha}).status_code == 200
        assert "/mcp" not in http.get("/openapi.json").json()["paths"]

    async def body(client: Client) -> None:
        raise AssertionError("connected without a valid key")

    with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for a refused connection
        run(running, "not-a-key", "http", body)


def test_stdio_needs_a_key_and_passes_on_the_service_refusing_one(running: Running) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AGENTMEM_API_KEY"}
    done = subprocess.run([AGENTMEM, "mcp", "--url", running.base_url], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 2 and "AGENTMEM_API_KEY" in done.stderr

    async def body(client: Client) -> None:
        assert "unknown API key" in await error(client, "get_freshness", {})

    run(running, "not-a-key", "stdio", body)


def test_a_tool_call_is_admitted_once_under_the_api_limits(fresh_db: str, embedder: Any) -> None:
    """In flight 2 with one request held: a tool call fits (its API call runs in the /mcp request's slot),
    and a document write through MCP meets the namespace's ingest limit like any API write."""
    settings = Settings(namespace_in_flight=2, namespace_ingest_tokens=20)
    big = "A document long enough to be over twenty tokens on its own, admitted because it is alone."
    with serve(fresh_db, embedder, settings) as running:
        alpha = make_tenant(running, "alpha")

        async def body(client: Client) -> None:
            with ThreadPoolExecutor(1) as pool, namespace_locked(fresh_db, "alpha"):
                blocked = pool.submit(_put, running.base_url, alpha, {"source_uri": "kb://big", "text": big})
                await anyio.to_thread.run_sync(wait_until_blocked, fresh_db)
                assert (await call(client, "get_freshness", {}))["documents"] == 0
                text = await error(client, "add_memory", {"source_uri": "kb://small", "text": "Small."})
                assert "namespace_ingest_tokens" in text and "HTTP 429" in text and "retry after" in text
            assert blocked.result().status_code == 200
            assert (await call(client, "add_memory", {"source_uri": "kb://small", "text": "Small."}))["chunks"] == 1

        run(running, key_of(alpha), "http", body)


def _put(base: str, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=120) as c:
        return c.put("/documents", json=body, headers=headers)


def test_a_number_json_cannot_hold_is_a_tool_error_naming_the_argument(running: Running, alpha: dict[str, str]) -> None:
    """NaN or Infinity parse (Python's JSON reads them) but cannot be sent on to the API: a tool error, no trace."""
    headers = {**alpha, "content-type": "application/json", "accept": "application/json, text/event-stream"}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=60) as http:
        for tool, arguments, where in (
                ("search_memory", '{"query": "x", "k": NaN}', "arguments.k"),
                ("assemble_context", '{"query": "x", "budget_tokens": 1e400}', "arguments.budget_tokens"),
                ("add_memory", '{"source_uri": "u", "text": "t", "metadata": {"a": -Infinity}}', "arguments.metadata.a")):
            raw = '{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "%s", "arguments": %s}}'
            r = http.post("/mcp", content=raw % (tool, arguments))
            assert r.status_code == 200, r.text
            result = r.json()["result"]
            assert result["isError"] is True and where in result["content"][0]["text"], result
            assert "finite number" in result["content"][0]["text"]


def test_a_body_over_the_sdks_4_mib_reaches_the_api(running: Running, alpha: dict[str, str]) -> None:
    """/mcp has the API's body limit (AGENTMEM_MAX_BODY_BYTES, 32 MiB), not the SDK's 4 MiB plain-text 413."""
    headers = {**alpha, "content-type": "application/json", "accept": "application/json, text/event-stream"}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "search_memory", "arguments": {"query": "x", "padding": "p" * (5 << 20)}}}
    with httpx.Client(base_url=running.base_url, headers=headers, timeout=60) as http:
        r = http.post("/mcp", content=json.dumps(message))
    assert r.status_code == 200, r.text[:300]
    result = r.json()["result"]
    assert result["isError"] is True and "padding" in result["content"][0]["text"], str(result)[:300]
