"""The page's pure parts: chart geometry and the formatting of scores and ages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from agentmem.api.ui.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, line_chart, y_of
from agentmem.api.ui.render import ago, day, score, when


def test_points_are_evenly_spaced_oldest_first_with_one_at_the_top() -> None:
    c = line_chart([1.0, 0.5, 0.0], ["a", "b", "c"])
    assert [p.x for p in c.points] == [LEFT, (LEFT + WIDTH - RIGHT) / 2, WIDTH - RIGHT]
    assert [p.y for p in c.points] == [TOP, (TOP + HEIGHT - BOTTOM) / 2, HEIGHT - BOTTOM]
    assert [p.label for p in c.points] == ["a", "b", "c"]
    assert c.polyline == f"{LEFT:.1f},{TOP:.1f} 171.0,48.0 {WIDTH - RIGHT:.1f},{HEIGHT - BOTTOM:.1f}"
    assert [g.label for g in c.grid] == ["1", "0.5", "0"] and [g.y for g in c.grid] == [TOP, 48.0, HEIGHT - BOTTOM]


def test_one_point_is_centred_and_none_is_empty() -> None:
    (p,) = line_chart([0.25], ["x"]).points
    assert p.x == LEFT + (WIDTH - LEFT - RIGHT) / 2 and p.y == y_of(0.25)
    assert line_chart([], []).points == [] and line_chart([], []).polyline == ""
    with pytest.raises(ValueError):
        line_chart([0.5], [])


@given(st.lists(st.floats(-2, 3, allow_nan=False), min_size=2, max_size=60))
def test_every_point_is_inside_the_plot(values: list[float]) -> None:
    c = line_chart(values, [""] * len(values))
    assert all(LEFT <= p.x <= WIDTH - RIGHT and TOP <= p.y <= HEIGHT - BOTTOM for p in c.points)
    xs = [p.x for p in c.points]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # a higher value is never drawn lower
    for a, b in zip(c.points, c.points[1:]):
        assert (a.value > b.value) <= (a.y <= b.y)


NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("delta, text", [
    (timedelta(seconds=5), "just now"),
    (timedelta(seconds=-30), "just now"),  # a clock slightly ahead
    (timedelta(minutes=7, seconds=59), "7 min ago"),
    (timedelta(hours=3, minutes=59), "3 h ago"),
    (timedelta(days=1, hours=2), "1 day ago"),
    (timedelta(days=90), "90 days ago"),
])
def test_ago(delta: timedelta, text: str) -> None:
    assert ago(NOW - delta, NOW) == text


def test_score_and_time_formats() -> None:
    assert score(None) == "–" and score(0.5) == "0.50" and score(1) == "1.00"
    assert when(datetime(2026, 11, 22, 13, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-22 12:05 UTC"
    assert day(datetime(2026, 11, 23, 0, 30, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-22"
