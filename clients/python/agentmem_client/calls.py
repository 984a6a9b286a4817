"""Each API call described as data, once: the sync and the async client only differ in how they send it.

A resource method decorated with `endpoint(...)` returns a `Req` (path parameters, query, body); the
decorator makes it an `Endpoint`, which turns the Req into a `Call` and hands it to the client's runner
(runner.py), which sends it (with retries) and parses the answer into the declared type. Type checkers
see `T` on the sync client and `Awaitable[T]` on the async one (`Bound[Sync]` / `Bound[Async]`). The
route template stays on the method, so the client can list the routes it covers (`covered_routes`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, Generic, Literal, ParamSpec, TypeVar, overload
from urllib.parse import quote

from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")
P = ParamSpec("P")
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
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def query(**params: Any) -> dict[str, Any]:
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


def parser(kind: Any) -> Callable[[bytes], Any]:
    """How to read an answer of this type: text as is, anything else validated from JSON."""
    if kind is str:
        return lambda raw: raw.decode("utf-8")
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    return adapter.validate_json


class Sync:
    """Marks the sync client: its methods answer their type."""


class Async:
    """Marks the async client: its methods answer an awaitable of their type."""


M = TypeVar("M", Sync, Async)


class Bound(Generic[M]):
    """What sends calls: the client itself, or one of its resources."""

    def __init__(self, send: Callable[[Call[Any]], Any]) -> None:
        self._send = send


class Endpoint(Generic[P, T]):
    """A method that is the call `method route`: typed `T` on the sync client, `Awaitable[T]` on the async."""

    def __init__(self, method: str, route: str, returns: Any, build: Callable[Concatenate[Any, P], Req],
                 idempotent: bool | None, auth: Auth) -> None:
        self.route = (method, route)
        self.build = build
        self.returns = returns
        self.idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        self.auth = auth
        self._parse: Callable[[bytes], Any] | None = None  # built on first use, not at import
        self.__name__ = getattr(build, "__name__", route)
        self.__doc__ = build.__doc__

    def call(self, owner: Any, *args: Any, **kwargs: Any) -> Call[T]:
        req = self.build(owner, *args, **kwargs)
        if self._parse is None:
            self._parse = parser(self.returns)
        method, route = self.route
        path = route.format(**{k: quote(str(v), safe="") for k, v in req.path.items()})
        return Call(method, route, path, req.params, req.json, self._parse, self.idempotent, self.auth)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Endpoint[P, T]: ...
    @overload
    def __get__(self, obj: Bound[Sync], owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Bound[Async], owner: type | None = None) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self

        @functools.wraps(self.build)
        def send(*args: Any, **kwargs: Any) -> Any:
            return obj._send(self.call(obj, *args, **kwargs))

        return send


def endpoint(method: str, route: str, returns: type[T], *, idempotent: bool | None = None,
             auth: Auth = "key") -> Callable[[Callable[Concatenate[Any, P], Req]], Endpoint[P, T]]:
    """Declare a method as the call `method route`, answering `returns`; its body builds the Req."""

    def wrap(build: Callable[Concatenate[Any, P], Req]) -> Endpoint[P, T]:
        return Endpoint(method, route, returns, build, idempotent, auth)

    return wrap


def endpoints_of(obj: object) -> list[Endpoint[Any, Any]]:
    """The endpoint methods of an object's class."""
    return [e for cls in type(obj).__mro__ for e in vars(cls).values() if isinstance(e, Endpoint)]


def routes_of(obj: object) -> set[tuple[str, str]]:
    """The (method, route) pairs an object's endpoint methods call."""
    return {e.route for e in endpoints_of(obj)}
