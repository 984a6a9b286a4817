"""The MCP tool table (api/mcp/tools.py): every tool well formed, arguments mapped onto the API as it accepts them."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel

from agentmem.api.mcp.server import api_result, as_mcp_tool
from agentmem.api.mcp.tools import BY_NAME, TOOLS, ToolInputError
from agentmem.api.schemas.documents import DocumentIn, MemoryIn
from agentmem.api.schemas.retrieval import AssembleIn, SearchIn
from agentmem.api.schemas.scratchpad import EntryIn
from agentmem.api.schemas.tasks import CompleteIn, TaskIn

NAMES = {"assemble_context", "search_memory", "add_memory", "write_scratchpad", "list_unsourced_claims",
         "complete_task", "get_task", "create_task", "delete_memory", "get_freshness"}
TASK = "0190a8f2-6c1e-7b3a-9d4e-5f6a7b8c9d0e"

# The API body each tool's arguments become (less the ids that go in the path).
BODIES: dict[str, tuple[type[BaseModel], ...]] = {
    "create_task": (TaskIn,), "assemble_context": (AssembleIn,), "search_memory": (SearchIn,),
    "write_scratchpad": (EntryIn,), "complete_task": (CompleteIn,), "add_memory": (DocumentIn, MemoryIn),
}


def test_the_tools_are_the_ones_agents_expect() -> None:
    assert {t.name for t in TOOLS} == NAMES
    for spec in TOOLS:
        tool = as_mcp_tool(spec).model_dump(by_alias=True, exclude_none=True)
        assert tool["inputSchema"]["type"] == "object"
        assert set(tool["inputSchema"]["required"]) <= set(tool["inputSchema"]["properties"])
        assert len(tool["description"]) > 120, spec.name  # what it is for, when to call it, what it returns
        assert "Returns" in tool["description"], spec.name
        hints = tool["annotations"]
        assert {"readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"} <= set(hints)
        assert hints["openWorldHint"] is False
        if hints["readOnlyHint"]:
            assert hints["destructiveHint"] is False and hints["idempotentHint"] is True, spec.name


def test_hints_say_what_each_tool_does() -> None:
    assert {t.name for t in TOOLS if t.read_only} == {
        "assemble_context", "search_memory", "list_unsourced_claims", "get_task", "get_freshness"}
    assert {t.name for t in TOOLS if t.destructive} == {"delete_memory", "add_memory"}  # an upsert replaces text
    assert BY_NAME["delete_memory"].idempotent and not BY_NAME["create_task"].idempotent


@pytest.mark.parametrize("name", sorted(BODIES))
def test_schema_properties_are_fields_the_api_accepts(name: str) -> None:
    spec = BY_NAME[name]
    accepted = set().union(*(model.model_fields for model in BODIES[name])) | set(spec.path_args)
    properties = set(spec.input_schema["properties"])
    assert properties <= accepted, properties - accepted
    required = {f for model in BODIES[name] for f, info in model.model_fields.items() if info.is_required()}
    if name != "add_memory":  # a memory's kind has a default here
        assert required <= set(spec.input_schema["required"])


def test_ids_in_paths_must_be_uuids() -> None:
    assert BY_NAME["get_task"].request({"task_id": TASK.upper()}).path == f"/tasks/{TASK}"
    for bad in ("../admin/namespaces", "x/complete", "", 12):
        with pytest.raises(ToolInputError, match="task_id must be a UUID"):
            BY_NAME["complete_task"].request({"task_id": bad})
    with pytest.raises(ToolInputError, match="task_id is required"):
        BY_NAME["write_scratchpad"].request({"content": "x", "kind": "note"})


def test_path_ids_are_not_sent_in_the_body() -> None:
    r = BY_NAME["write_scratchpad"].request({"task_id": TASK, "content": "c", "kind": "note"})
    assert (r.method, r.path, r.json) == ("POST", f"/tasks/{TASK}/scratchpad", {"content": "c", "kind": "note"})
    r = BY_NAME["list_unsourced_claims"].request({"task_id": TASK})
    assert (r.method, r.params) == ("GET", {"unsourced": "true"})
    assert BY_NAME["get_freshness"].request({}).params is None
    assert BY_NAME["get_freshness"].request({"worst": 3}).params == {"worst": 3}


def test_add_memory_is_a_document_with_a_source_uri_else_a_memory() -> None:
    r = BY_NAME["add_memory"].request({"text": "t", "source_uri": "kb://a", "title": "A"})
    assert (r.method, r.path, r.json) == ("PUT", "/documents", {"text": "t", "source_uri": "kb://a", "title": "A"})
    r = BY_NAME["add_memory"].request({"text": "t", "source": "chat"})
    assert (r.method, r.path, r.json) == ("POST", "/memories", {"kind": "fact", "text": "t", "source": "chat"})
    r = BY_NAME["add_memory"].request({"text": "t", "kind": "preference"})
    assert r.json == {"kind": "preference", "text": "t"}
    with pytest.raises(ToolInputError, match="only for a document"):
        BY_NAME["add_memory"].request({"text": "t", "title": "A"})
    with pytest.raises(ToolInputError, match="only for a memory"):
        BY_NAME["add_memory"].request({"text": "t", "source_uri": "kb://a", "kind": "fact"})


def test_api_errors_become_tool_errors_with_the_api_message() -> None:
    refusal = {"error": {"code": "rate_limited", "message": "slow down"}}
    r = api_result(httpx.Response(429, json=refusal, headers={"Retry-After": "2"}))
    assert r.is_error and r.content[0].text == "slow down (HTTP 429 rate_limited); retry after 2 s"
    assert r.structured_content == refusal
    r = api_result(httpx.Response(502, text="<html>bad gateway</html>"))
    assert r.is_error and r.content[0].text == "HTTP 502: <html>bad gateway</html>"
    ok = api_result(httpx.Response(200, json=[{"id": 1}]))
    assert not ok.is_error and ok.structured_content == {"items": [{"id": 1}]}
