"""Every route of the OpenAPI document is reachable through the Python client, or listed in its NOT_COVERED
with a reason: a new route without a client method fails here."""

from __future__ import annotations

from agentmem_client import NOT_COVERED, AgentMem

from agentmem.api.app import create_app
from agentmem.core.settings import Settings

METHODS = {"get", "put", "post", "delete", "patch"}


def spec_routes() -> set[tuple[str, str]]:
    spec = create_app(Settings(admin_token="unused")).openapi()  # builds the app; nothing is started
    return {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops if m in METHODS}


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
