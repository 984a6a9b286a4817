import numpy as np

from agentmem.retrieval.dedup import near_duplicates


def _unit(*rows: list[float]) -> np.ndarray:
    m = np.array(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_near_duplicates_point_to_the_better_ranked_copy() -> None:
    vecs = _unit([1, 0, 0], [0.999, 0.01, 0], [0, 1, 0], [0, 0, 1])
    texts = ["alpha", "alpha, almost", "beta", "Beta  "]
    assert near_duplicates(texts, vecs) == [None, 0, None, 2]


def test_threshold_controls_what_counts() -> None:
    vecs = _unit([1, 0], [0.9, 0.43])
    assert near_duplicates(["a", "b"], vecs, threshold=0.95) == [None, None]
    assert near_duplicates(["a", "b"], vecs, threshold=0.85) == [None, 0]
