"""Schemathesis over /openapi.json as a namespace key: no server error, no status the document leaves out."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import status_code_conformance

from agentmem.api.openapi_errors import statuses
from conftest import Tenant

EXAMPLES = 4  # per operation and generation mode: ~45 operations x 2 modes stays under a minute
# HTML for people, not a contract for generators; /mcp speaks its own protocol (JSON-RPC), documented by MCP.
SKIPPED_PREFIXES = ("/ui", "/mcp")


def run_operation(client: TestClient, operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(headers=headers)
        kwargs.pop("url", None)
        response = client.request(url=case.formatted_path, **{k: v for k, v in kwargs.items() if k in _PASSED})
        try:
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
        except FailureGroup as group:  # collected: one report of every operation beats stopping at the first
            for exc in group.exceptions:
                failures.append(f"{operation.label} [{mode.value}] {response.status_code}: {exc.title}")

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        pass
    return failures


_PASSED = {"method", "params", "headers", "cookies", "content", "data", "json", "files"}


def test_every_answer_is_documented_and_none_is_a_server_error(client: TestClient, tenant: Tenant) -> None:
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(SKIPPED_PREFIXES):
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += run_operation(client, operation, mode, tenant.headers)
    assert operations > 30
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(sorted(set(failures)))


def test_the_document_names_the_error_envelope_not_fastapis(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assemble = doc["paths"]["/context/assemble"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "422", "429", "503"} <= set(assemble)
    assert assemble["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "Retry-After" in assemble["429"]["headers"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert set(doc["paths"]["/healthz"]["get"]["responses"]) == {"200"}  # no key, no admission, no input


def test_statuses_follow_where_errors_come_from() -> None:
    read = {"security": [{"HTTPBearer": []}], "parameters": [{"in": "path", "name": "task_id"}]}
    assert statuses("get", read, admitted=True) == [401, 403, 404, 422, 429, 503]
    assert statuses("post", {"requestBody": {}}, admitted=False) == [400, 404, 409, 413, 422]
    assert statuses("get", {}, admitted=False) == []
