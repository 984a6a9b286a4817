"""Each API call described as data, once: the sync and the async client only differ in how they send it.

A resource method decorated with `endpoint(...)` returns a `Req` (path parameters, query, body); the
decorator turns it into a `Call` and hands it to the client's runner (runner.py), which sends it
(with retries) and parses the answer into the declared type. The route template stays on the method,
so the client can list the routes it covers (`covered_routes`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")
Auth = Literal["key", "admin", "none"]

# POSTs that are safe to send twice, so retried after a connection error like GET/PUT/DELETE:
# /search and /context/assemble read (an assemble also records a trace: a repeat records a second one);
# /documents/batch upserts by source_uri (a repeat answers "unchanged"); /jobs/reembed returns the open
# job instead of queueing another; /probes/baseline sets a value. Not these: POST /tasks, /memories,
# /probes, scratchpad entries (a repeat writes a second row), /tasks/{id}/complete (a repeat is a 409),
# /probes/run (a repeat runs the probes again), /admin/... (a repeat is a 409, or issues a second key).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Req:
    """What a method contributes to its call: path parameters, query parameters, JSON body."""

    path: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, ready to send, and how to read its answer."""

    method: str
    route: str  # the OpenAPI path template, e.g. /tasks/{task_id}
    path: str  # the route with its parameters filled in
    params: dict[str, Any]
    json: Any
    parse: Callable[[bytes], T]  # the answer's body -> result
    idempotent: bool
    auth: Auth


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body from keyword arguments, leaving out those not given (None): the server's defaults apply."""
    return {k: _plain(v) for k, v in fields.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def query(**params: Any) -> dict[str, Any]:
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def parser(kind: Any) -> Callable[[bytes], Any]:
    """How to read an answer of this type: text as is, anything else validated from JSON."""
    if kind is str:
        return lambda raw: raw.decode("utf-8")
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    return adapter.validate_json


class Sender(Protocol):
    def _send(self, call: Call[Any]) -> Any: ...


def endpoint(method: str, route: str, returns: Any, *, idempotent: bool | None = None,
             auth: Auth = "key") -> Callable[[Callable[..., Req]], Callable[..., Any]]:
    """Declare a method as the call `method route`, answering `returns`; its body builds the Req."""
    safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent

    def wrap(build: Callable[..., Req]) -> Callable[..., Any]:
        parse = functools.cache(lambda: parser(returns))  # built on first use, not at import

        @functools.wraps(build)
        def call(self: Sender, *args: Any, **kwargs: Any) -> Any:
            req = build(self, *args, **kwargs)
            path = route.format(**{k: quote(str(v), safe="") for k, v in req.path.items()})
            return self._send(Call(method, route, path, req.params, req.json, parse(), safe, auth))

        call.route = (method, route)  # type: ignore[attr-defined]
        return call

    return wrap


def routes_of(obj: object) -> set[tuple[str, str]]:
    """The (method, route) pairs an object's endpoint methods call."""
    found = set()
    for name in dir(type(obj)):
        r = getattr(getattr(type(obj), name), "route", None)
        if isinstance(r, tuple):
            found.add(r)
    return found
