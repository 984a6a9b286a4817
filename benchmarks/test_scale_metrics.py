"""Pure helpers the benchmarks report with: wrong here means wrong figures in docs/."""

from __future__ import annotations

import pytest

from benchmarks.scale import recall_at_k


def test_recall_counts_tied_neighbours_as_found() -> None:
    # Identical texts have identical vectors: HNSW may return any of the tied ones.
    assert recall_at_k([0.9, 0.8, 0.8], [0.9, 0.8, 0.8], 3) == 1.0
    assert recall_at_k([0.9, 0.8, 0.7], [0.9, 0.6, 0.5], 3) == pytest.approx(1 / 3)
    assert recall_at_k([0.9, 0.8], [0.9, 0.8, 0.7], 3) == 1.0  # fewer than k exist: all of them found
    assert recall_at_k([0.9, 0.8, 0.7], [], 3) == 0.0
    assert recall_at_k([], [], 10) == 1.0
