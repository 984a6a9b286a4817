"""Chunk hits to document hits (retrieval/units.py): one per document, its best chunk, best first."""

from __future__ import annotations

from dataclasses import dataclass

from agentmem.retrieval.units import by_document


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    document_id: str
    score: float


HITS = [Hit(1, "a", 0.9), Hit(2, "b", 0.8), Hit(3, "b", 0.7), Hit(4, "b", 0.7), Hit(5, "c", 0.85), Hit(6, "a", 0.1)]


def test_one_hit_per_document_scored_by_its_best_chunk() -> None:
    got = by_document(HITS)
    assert [(h.chunk_id, h.document_id, h.score) for h in got] == [(1, "a", 0.9), (5, "c", 0.85), (2, "b", 0.8)]


def test_a_bonus_for_other_chunks_can_reorder_documents() -> None:
    got = by_document(HITS, bonus=0.05)
    assert [h.document_id for h in got] == ["a", "b", "c"]  # b: 0.8 + 0.05 * (0.7 + 0.7) = 0.87 > c's 0.85
    assert got[1].chunk_id == 2 and abs(got[1].score - 0.87) < 1e-9
