"""Chunk hits aggregated into document hits (the vector side of `unit: "document"`). Pure.

A document's vector score is its best chunk's cosine. A bonus for each other chunk of it among the
candidates (`bonus`) was the default while chunks were embedded alone (+0.1 point of hybrid nDCG@10
on NFCorpus dev); since every chunk is embedded with its document's title, all of a document's chunks
match a query on the title, and the bonus counts the title again: NFCorpus dev, vector nDCG@10
0.3165 without it, 0.3051 with 0.05 (docs/retrieval.md, "Titles in chunk vectors").
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence, TypeVar

OTHER_CHUNK_BONUS = 0.0  # times the cosine of each other candidate chunk of the document
DOCUMENT_DEPTH = 3  # the vector retriever looks this many times deeper when it ranks documents


class _Hit(Protocol):
    @property
    def document_id(self) -> object: ...
    @property
    def score(self) -> float: ...


H = TypeVar("H", bound=_Hit)


def by_document(hits: Sequence[H], bonus: float = OTHER_CHUNK_BONUS) -> list[H]:
    """One hit per document (its best chunk, rescored), best first; `hits` best first."""
    best: dict[object, H] = {}
    extra: dict[object, float] = {}
    for h in hits:
        if h.document_id not in best:
            best[h.document_id] = h
            extra[h.document_id] = 0.0
        else:
            extra[h.document_id] += bonus * max(h.score, 0.0)
    order = list(best)  # first appearance: ties keep the chunk order
    rescored = [dataclasses.replace(best[d], score=best[d].score + extra[d]) for d in order]  # type: ignore[type-var]
    return sorted(rescored, key=lambda h: -h.score)
