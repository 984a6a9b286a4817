"""Offline fusion sweep over lists dumped by fusion_dump.py: nDCG@10 (NFCorpus) and recall@10 (LoCoMo).

Replays the service's fusion (agentmem.retrieval.fusion, units.by_document) at a candidate depth on
each query's keyword and vector lists; prints one line per configuration. Tuning dumps only.
Run: `python -m benchmarks.fusion_sweep NF_DUMP|- LOCOMO_DUMP|- method=rrf,zscore k=10,20 wv=0.5,1`.
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

from agentmem.retrieval import fusion
from agentmem.retrieval.units import by_document
from benchmarks.nfcorpus import documents_in_order, ndcg_at


@dataclasses.dataclass(frozen=True)
class H:
    chunk_id: int
    document_id: str
    score: float


def hits(rows: list[list[Any]], n: int) -> list[H]:
    return [H(c, d, s) for c, d, s in rows[:n]]


@dataclasses.dataclass(frozen=True)
class Config:
    method: str = "rrf"  # rrf | zscore | minmax
    k: float = 20.0
    wv: float = 0.5
    wk: float = 1.0
    adapt: str = ""  # "" | conf | overlap
    alpha: float = 1.0
    depth: int = 50
    doc_vector: bool = False  # chunk unit: a chunk's vector score is its document's aggregate

    def label(self) -> str:
        a = f" adapt={self.adapt}:{self.alpha}" if self.adapt else ""
        return (f"{self.method:<6} k={self.k:<4} wv={self.wv:<4} wk={self.wk:<4} depth={self.depth:<4}"
                f"{' docvec' if self.doc_vector else ''}{a}")


def fuse(q: dict[str, Any], c: Config, unit: str, k_out: int) -> list[str]:
    depth = max(c.depth, k_out)
    if unit == "document":
        kw = hits(q["keyword_doc"], depth)
        vec = by_document(hits(q["vector"], depth * 3))[:depth]
        key: Callable[[H], Any] = lambda h: h.document_id
    else:
        kw = hits(q["keyword"], depth)
        vec = hits(q["vector"], depth)
        if c.doc_vector:
            agg = {h.document_id: h.score for h in by_document(hits(q["vector"], depth * 3))}
            vec = sorted((dataclasses.replace(h, score=agg[h.document_id]) for h in vec), key=lambda h: -h.score)
        key = lambda h: h.chunk_id
    doc_of = {key(h): h.document_id for h in [*vec, *kw]}
    lists = {name: [(key(h), h.score) for h in items]  # a retriever at weight 0 is off, as in the service
             for name, items, w in (("vector", vec, c.wv), ("keyword", kw, c.wk)) if w > 0}
    # as the service: a keyword list shorter than the depth asked for has found every match
    exhausted = {"keyword"} if len(q["keyword_doc" if unit == "document" else "keyword"]) < depth else set()
    fused = fusion.fuse(lists, method=c.method, k=c.k, weights={"vector": c.wv, "keyword": c.wk},
                        adapt=c.adapt, alpha=c.alpha if c.adapt else 0.0, exhausted=exhausted)
    return documents_in_order([doc_of[f.key] for f in fused][:k_out])


def nf_score(data: list[dict[str, Any]], c: Config, unit: str = "chunk", k_out: int | None = None) -> float:
    """k_out None: what benchmarks/nfcorpus.py asks for (200 chunks, 100 documents), which also sets
    the candidate depth; 10: a caller asking for 10, depth = the strategy's."""
    k_out = k_out or (200 if unit == "chunk" else 100)
    return statistics.fmean(ndcg_at(fuse(q, c, unit, k_out), q["rels"]) for q in data)


def lo_score(data: list[dict[str, Any]], c: Config, at: int = 10) -> float:
    def recall(q: dict[str, Any]) -> float:
        top = set(fuse(q, c, "chunk", 20)[:at])
        return len(top & set(q["rels"])) / len(q["rels"])
    return statistics.fmean(recall(q) for q in data)


def single(data: list[dict[str, Any]], name: str, scorer: Callable[..., float], depth: int) -> float:
    c = Config(wv=1.0, wk=0.0) if name == "vector" else Config(wv=0.0, wk=1.0)
    return scorer(data, dataclasses.replace(c, depth=depth))


def grid(spec: dict[str, Sequence[Any]]) -> list[Config]:
    names = list(spec)
    return [Config(**dict(zip(names, values))) for values in itertools.product(*spec.values())]


def parse_spec(parts: Sequence[str]) -> dict[str, list[Any]]:
    """`k=10,20 wv=0.5,1 method=rrf,zscore` -> a grid over the Config fields named."""
    types = {f.name: type(f.default) for f in dataclasses.fields(Config)}
    spec: dict[str, list[Any]] = {}
    for part in parts:
        name, values = part.split("=", 1)
        cast = types[name]
        spec[name] = [(v == "1" if cast is bool else cast(v)) for v in values.split(",")]
    return spec


def load(path: str) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def main(argv: Sequence[str]) -> int:
    nf, lo = (load(path) if path != "-" else None for path in argv[:2])
    for name in ("keyword", "vector"):
        print(f"single {name:<8} nf {single(nf, name, nf_score, 50) if nf else 0:.4f}"
              f"  lo {single(lo, name, lo_score, 50) if lo else 0:.4f}")
    configs = grid(parse_spec(argv[2:]))
    for c in configs:
        line = c.label()
        if nf:
            line += (f"  nf {nf_score(nf, c):.4f}  nf-doc {nf_score(nf, c, 'document'):.4f}"
                     f"  nf@k10 {nf_score(nf, c, k_out=10):.4f}")
        if lo:
            line += f"  lo {lo_score(lo, c):.4f}  lo@5 {lo_score(lo, c, 5):.4f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
