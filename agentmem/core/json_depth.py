"""How deeply JSON nests: measured on raw bytes before parsing, on parsed values, and clipped when read.

Deep JSON is a cheap attack: a few kilobytes of brackets make Python's parser, Pydantic's validator
or its serializer recurse until they fail (a 500), and once stored, every read of the row fails too.
So request bodies are measured before anything parses them (`raw_depth`, in C-speed regex and numpy,
no recursion), parsed values are measured without recursion (`depth`), and JSON read back from the
database is clipped to READ_DEPTH (`read_json`, the pool's loader) so that rows stored before the
limits existed still serialise.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

READ_DEPTH = 64  # deeper stored values are clipped on reading; Pydantic serialises up to ~250
CLIPPED = f"(nested deeper than {READ_DEPTH} levels: not shown; rewrite this value flatter)"
UNREADABLE = {"unreadable": "this stored JSON nests too deeply to read; rewrite it flatter"}

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_OPEN = (ord("["), ord("{"))


def bracket_count(data: bytes) -> int:
    """An upper bound of the nesting depth: JSON with this many openers or fewer cannot nest deeper."""
    return data.count(b"[") + data.count(b"{")


def raw_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, without parsing it (strings skipped).

    Text that is not valid JSON gets a number too; the parser refuses it afterwards.
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", data))
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == _OPEN[0]) | (codes == _OPEN[1]), 1, -1).astype(np.int64)
    return int(np.cumsum(steps).max())


def depth(value: Any, stop_above: int | None = None) -> int:
    """Nesting of a parsed JSON value (a scalar is 0, {} and [] are 1), iteratively.

    With `stop_above`, returns as soon as the depth is known to exceed it.
    """
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        deepest = max(deepest, d)
        if stop_above is not None and deepest > stop_above:
            return deepest
        stack.extend((c, d + 1) for c in children)
    return deepest


def clip(value: Any, max_depth: int, level: int = 1) -> Any:
    """The value with every array or object below `max_depth` levels replaced by CLIPPED (recursion
    stops there, so it is bounded by max_depth)."""
    if not isinstance(value, (dict, list)):
        return value
    if level > max_depth:
        return CLIPPED
    if isinstance(value, dict):
        return {k: clip(v, max_depth, level + 1) for k, v in value.items()}
    return [clip(v, max_depth, level + 1) for v in value]


def read_json(data: str | bytes) -> Any:
    """json.loads for values read from the database: too deep for Python gives UNREADABLE, deeper
    than READ_DEPTH is clipped; anything else is returned as stored."""
    try:
        value = json.loads(data)
    except RecursionError:
        return dict(UNREADABLE)
    openers = data.count("[") + data.count("{") if isinstance(data, str) else bracket_count(bytes(data))
    if openers > READ_DEPTH and depth(value, READ_DEPTH) > READ_DEPTH:
        return clip(value, READ_DEPTH)
    return value
