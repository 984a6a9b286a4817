"""Every route of the OpenAPI document is reachable through the Python client, or listed in its NOT_COVERED
with a reason: a new route without a client method fails here."""

from __future__ import annotations

import typing
from typing import Any

from agentmem_client import NOT_COVERED, AgentMem
from pydantic import BaseModel

from agentmem.api.app import create_app
from agentmem.core.settings import Settings

METHODS = {"get", "put", "post", "delete", "patch"}


def spec() -> dict[str, Any]:
    return create_app(Settings(admin_token="unused")).openapi()  # builds the app; nothing is started


def spec_routes() -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, ops in spec()["paths"].items() for m in ops if m in METHODS}


def test_every_route_is_a_client_method_or_deliberately_not_covered() -> None:
    routes = spec_routes()
    covered = AgentMem("http://unused.test", "unused").covered_routes()
    missing = routes - covered - NOT_COVERED.keys()
    assert not missing, (f"routes without a client method: {sorted(missing)}; add one in"
                         " clients/python/agentmem_client/resources.py (or list it in NOT_COVERED with why)")
    assert not covered - routes, f"client methods for routes the service does not have: {sorted(covered - routes)}"
    assert not NOT_COVERED.keys() - routes, "NOT_COVERED lists routes the service no longer has"
    assert not NOT_COVERED.keys() & covered, "a route is both covered and listed as not covered"
    assert all(reason.strip() for reason in NOT_COVERED.values())


def test_the_check_can_fail() -> None:
    """The spec has routes to compare, and the client covers them under the same names."""
    routes = spec_routes()
    assert ("POST", "/context/assemble") in routes and ("GET", "/tasks/{task_id}") in routes
    assert len(routes) > 30


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (Task, list[Task], Task | None), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def ref_in(schema: dict[str, Any]) -> str | None:
    """The component a schema points at ({"$ref"}, an array of them, or one of anyOf), if any."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    inner_schemas = [schema["items"]] if isinstance(schema.get("items"), dict) else []
    for inner in [*inner_schemas, *schema.get("anyOf", []), *schema.get("allOf", [])]:
        found = ref_in(inner)
        if found:
            return found
    return None


def drift(model: type[BaseModel], schema_name: str, components: dict[str, Any], where: str) -> list[str]:
    """Where the client's model and the server's schema name different fields, through nested models."""
    schema = components[schema_name]
    server = schema.get("properties", {})
    problems = []
    if set(model.model_fields) != set(server):
        problems.append(f"{where}: client {model.__name__} has {sorted(set(model.model_fields) - set(server))} "
                        f"more, server {schema_name} has {sorted(set(server) - set(model.model_fields))} more")
    for name, field in model.model_fields.items():
        inner, ref = model_in(field.annotation), ref_in(server.get(name, {}))
        if inner is not None and ref is not None:
            problems += drift(inner, ref, components, f"{where}.{name}")
    return problems


def test_client_models_name_the_same_fields_as_the_servers_answers() -> None:
    """The client mirrors the answers in its own models (it may not import the server's): a field added,
    renamed or removed on either side fails here, naming the model to change."""
    document = spec()
    components = document["components"]["schemas"]
    problems, checked = [], 0
    for e in AgentMem("http://unused.test", "unused").endpoints():
        method, route = e.route
        answers = document["paths"][route][method.lower()]["responses"]
        ok = next(a for code, a in sorted(answers.items()) if code.startswith("2"))
        schema = (ok.get("content") or {}).get("application/json", {}).get("schema", {})
        model, ref = model_in(e.returns), ref_in(schema)
        if model is None or ref is None:
            continue
        checked += 1
        problems += drift(model, ref, components, f"{method} {route}")
    assert checked > 30
    assert not problems, "\n".join(problems)
