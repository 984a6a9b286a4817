"""Pure parts of assembly's multi-hop help (retrieval/expansion.py): no database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from agentmem.retrieval.expansion import (
    Place, adjacent, feedback_terms, feedback_vector, fuse_rounds, source_parent, with_neighbours,
)

T0 = datetime(2023, 5, 8, 13, 56, tzinfo=timezone.utc)


def test_feedback_vector_moves_towards_the_hits_and_stays_unit() -> None:
    q = np.array([1.0, 0.0, 0.0])
    hits = [np.array([0.0, 2.0, 0.0]), np.array([0.0, 1.0, 0.0])]
    v = feedback_vector(q, hits, 1.0)
    assert np.isclose(np.linalg.norm(v), 1.0)
    assert np.allclose(v, np.array([1.0, 1.0, 0.0]) / np.sqrt(2))
    assert np.allclose(feedback_vector(q, hits, 0.0), q)
    assert np.allclose(feedback_vector(q * 3, [], 0.5), q)


def test_fuse_rounds_keeps_round_one_top_and_admits_what_round_two_agrees_on() -> None:
    first = ["a", "b", "c", "d"]
    second = ["x", "d", "a"]
    order = fuse_rounds(first, [(second, 0.5)])
    assert order[0] == "a"  # first in round one, third in round two
    assert order.index("d") < order.index("c")  # round two lifts d above c
    assert set(order) == {"a", "b", "c", "d", "x"}
    assert fuse_rounds(first, [(second, 0.0)])[:4] == first  # weight 0: round one's order
    assert fuse_rounds(first, [(["c"], 0.5), (["c"], 0.5)])[0] == "c"  # two later rounds agreeing


def place(cid: int, doc: str, ord_: int = 0, single: bool = True, uri: str = "chat:s1/t", hours: float | None = 0.0) -> Place:
    when = None if hours is None else T0 + timedelta(hours=hours)
    return Place(cid, doc, ord_, single, f"{uri}{cid}", when)


def test_adjacent_chunks_of_one_document() -> None:
    a = place(10, "doc", 3, single=False)
    assert adjacent(a, place(11, "doc", 4, single=False), 6)
    assert adjacent(a, place(9, "doc", 2, single=False), 6)
    assert not adjacent(a, place(12, "doc", 5, single=False), 6)


def test_adjacent_one_chunk_items_need_the_same_source_and_time() -> None:
    a = place(10, "t10")
    assert adjacent(a, place(11, "t11", hours=2), 6)
    assert not adjacent(a, place(11, "t11", hours=7), 6)  # another session
    assert not adjacent(a, place(11, "t11", uri="chat:s2/t"), 6)  # another source
    assert not adjacent(a, place(11, "t11", single=False), 6)  # a chunk of a long document
    assert adjacent(place(10, "t10", hours=None), place(11, "t11", hours=None), 6)
    assert not adjacent(place(10, "t10", hours=None), place(11, "t11"), 6)


def test_source_parent() -> None:
    assert source_parent("locomo:conv-26/D1:3") == "locomo:conv-26/"
    assert source_parent("https://wiki.example/space/page") == "https://wiki.example/space/"
    assert source_parent("note:42") == "" and source_parent("kb://venues") == ""
    assert source_parent("plain") == ""
    assert not adjacent(Place(1, "a", 0, True, "x", None), Place(2, "b", 0, True, "y", None), 6)


def test_with_neighbours_places_them_after_their_anchor_once() -> None:
    order = [1, 2, 3, 4, 5]
    near = {1: [9, 2], 2: [8], 4: [7]}
    assert with_neighbours(order, near, 2) == [1, 9, 2, 8, 3, 4, 5]  # 4 is not an anchor
    assert with_neighbours(order, near, 0) == order
    assert with_neighbours([1, 3], {1: [3]}, 1) == [1, 3]


def test_feedback_terms_prefers_words_the_top_hits_share_and_the_pool_lacks() -> None:
    top = ["Caroline: I went to the LGBTQ support group", "Caroline: the support group was so powerful"]
    pool = [*top, "Melanie: I painted a sunrise", "Melanie: the kids loved the group camping trip"]
    terms = feedback_terms("What did Caroline do?", top, pool, 2)
    assert terms == ["support", "group"]  # in both best hits; "group" is commoner in the pool
    assert "caroline" not in feedback_terms("What did Caroline do?", top, pool, 10)  # asked already
    assert "the" not in feedback_terms("x", top, pool, 10) and "was" not in feedback_terms("x", top, pool, 10)
    assert feedback_terms("x", [], pool, 5) == []
