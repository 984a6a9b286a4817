"""Nesting depth of JSON: on raw bytes (before parsing), on parsed values, and clipped on reading."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agentmem.core.json_depth import CLIPPED, READ_DEPTH, UNREADABLE, clip, depth, raw_depth, read_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n,:'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\ab'), children, max_size=3),
    max_leaves=30,
)


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@given(JSON)
@hsettings(max_examples=300)
def test_raw_depth_of_the_text_is_the_depth_of_the_value(value: Any) -> None:
    """Brackets, quotes and backslashes inside strings are text, not structure."""
    assert raw_depth(json.dumps(value).encode()) == depth(value)
    assert raw_depth(json.dumps(value, indent=2, ensure_ascii=False).encode()) == depth(value)


def test_depths() -> None:
    assert depth(1) == 0 and depth({}) == 1 and depth([[], {"a": [1]}]) == 3
    assert raw_depth(b"") == 0 and raw_depth(b'"[[["') == 0 and raw_depth(b'["\\"[", [1]]') == 2
    assert depth(nested(100_000)) == 100_000  # no recursion
    assert depth(nested(100_000), stop_above=8) == 9  # and it stops early when told to
    deep = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    assert raw_depth(deep) == 100_000
    assert raw_depth(b"[" * 10) == 10  # not JSON at all: still a number, the parser refuses it later


def test_clip_replaces_what_is_deeper_than_the_limit() -> None:
    assert clip({"a": [1, {"b": 2}]}, 3) == {"a": [1, {"b": 2}]}
    assert clip({"a": [1, {"b": 2}]}, 2) == {"a": [1, CLIPPED]}
    assert clip("text", 0) == "text"


def test_read_json_clips_deep_values_and_survives_ones_python_cannot_parse() -> None:
    shallow = {"k": [1, 2, {"x": None}]}
    assert read_json(json.dumps(shallow)) == shallow and read_json(json.dumps(shallow).encode()) == shallow
    clipped = read_json(json.dumps(nested(300)))
    assert depth(clipped) == READ_DEPTH
    assert read_json('{"a": ' * 5000 + "1" + "}" * 5000) == UNREADABLE
    wide = [[i] for i in range(1000)]  # many brackets, shallow: returned as stored
    assert read_json(json.dumps(wide)) == wide
