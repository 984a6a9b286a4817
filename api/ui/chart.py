"""A line chart of values in [0, 1] (recall, scores) as SVG coordinates: pure, drawn by the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

WIDTH, HEIGHT = 320.0, 96.0
LEFT, RIGHT, TOP, BOTTOM = 30.0, 8.0, 8.0, 8.0  # room for the 0 / 0.5 / 1 labels on the left


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: float
    label: str  # shown as the point's tooltip


@dataclass(frozen=True)
class Gridline:
    y: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: float
    height: float
    points: list[Point]
    grid: list[Gridline]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def y_of(value: float, height: float = HEIGHT) -> float:
    """1 at the top, 0 at the bottom; values outside [0, 1] are drawn at the edge."""
    clamped = min(1.0, max(0.0, value))
    return TOP + (1.0 - clamped) * (height - TOP - BOTTOM)


def line_chart(values: Sequence[float], labels: Sequence[str], width: float = WIDTH,
               height: float = HEIGHT) -> LineChart:
    """One point per value, evenly spaced left to right in the order given (runs, oldest first)."""
    if len(labels) != len(values):
        raise ValueError("one label per value")
    span = width - LEFT - RIGHT
    step = span / (len(values) - 1) if len(values) > 1 else 0.0
    points = [
        Point(x=LEFT + (i * step if len(values) > 1 else span / 2), y=y_of(v, height), value=v, label=label)
        for i, (v, label) in enumerate(zip(values, labels))
    ]
    grid = [Gridline(y=y_of(v, height), label=text) for v, text in ((1.0, "1"), (0.5, "0.5"), (0.0, "0"))]
    return LineChart(width=width, height=height, points=points, grid=grid)
