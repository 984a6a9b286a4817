"""Chunk size study: embedding speed and retrieval quality of all-MiniLM-L6-v2 per chunk size.

Each LoCoMo session is a document (one line per turn) chunked at each size; each question of
categories 1-4 is embedded and its conversation's chunks ranked by cosine; the top chunks are packed
into a fixed token budget (in rank order, skipping any that would overflow it). Quality is how many of
the question's evidence turns (dia_id) the packed chunks contain whole. The baseline, in the same run,
is one item per turn. Pure numpy over the model's vectors: no database is involved.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from agentmem.core.settings import Settings
from agentmem.core.tokens import count_tokens
from benchmarks.corpus import Session, docstring_docs, load_locomo, locomo_sessions
from agentmem.memory.chunking import chunk_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "chunk_size.json"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
TURN = "turn"  # the baseline: one item per turn
_DIA = re.compile(r"D\s*(\d+)\s*:\s*(\d+)")


@dataclass(frozen=True)
class Units:
    """One conversation cut into retrievable units, and which units each turn needs to be whole."""

    texts: list[str]
    tokens: np.ndarray
    needs: dict[str, frozenset[int]]  # dia_id -> the units its line overlaps (all must be packed)


@dataclass(frozen=True)
class Question:
    text: str
    category: int
    evidence: frozenset[str]


@dataclass
class Conversation:
    sample_id: str
    sessions: list[Session]
    questions: list[Question] = field(default_factory=list)


def norm_dia(raw: str) -> str | None:
    m = _DIA.fullmatch(raw.strip())
    return f"D{int(m.group(1))}:{int(m.group(2))}" if m else None


def parse_evidence(evidence: Iterable[Any], known: set[str]) -> tuple[frozenset[str], int]:
    """Normalised evidence ids that name a real turn, and how many references were skipped.

    The data has references like "D8:6; D9:17" (two in one) and "D30:05" (a zero-padded turn).
    """
    found: set[str] = set()
    skipped = 0
    for ref in evidence:
        for part in re.split(r"[;,]", str(ref)):
            if not part.strip():
                continue
            dia = norm_dia(part)
            if dia is not None and dia in known:
                found.add(dia)
            else:
                skipped += 1
    return frozenset(found), skipped


def chunk_units(sessions: Sequence[Session], size: int | str) -> Units:
    """Every session chunked at `size` tokens (or one unit per turn when size is TURN)."""
    texts: list[str] = []
    tokens: list[int] = []
    needs: dict[str, frozenset[int]] = {}
    for s in sessions:
        if size == TURN:
            for t in s.turns:
                line = s.doc.text[t.start : t.end]
                needs[norm_dia(t.dia_id) or t.dia_id] = frozenset({len(texts)})
                texts.append(line)
                tokens.append(count_tokens(line))
            continue
        base = len(texts)
        chunks = chunk_text(s.doc.text, int(size))
        for t in s.turns:
            over = frozenset(base + i for i, c in enumerate(chunks) if c.start < t.end and t.start < c.end)
            needs[norm_dia(t.dia_id) or t.dia_id] = over
        texts.extend(c.text for c in chunks)
        tokens.extend(c.tokens for c in chunks)
    return Units(texts, np.asarray(tokens, dtype=np.int64), needs)


def pack(order: np.ndarray, tokens: np.ndarray, budget: int) -> set[int]:
    """Units in rank order that fit the budget; one that would overflow is skipped, not a stop."""
    chosen: set[int] = set()
    used, smallest = 0, int(tokens.min())
    for i in order:
        n = int(tokens[i])
        if used + n <= budget:
            chosen.add(int(i))
            used += n
            if budget - used < smallest:
                break
    return chosen


def contained(evidence: frozenset[str], needs: dict[str, frozenset[int]], chosen: set[int]) -> int:
    """How many evidence turns are in the context whole (every unit their line overlaps is packed)."""
    return sum(1 for d in evidence if needs[d] and needs[d] <= chosen)


def load_conversations(path: str | None, limit: int | None) -> tuple[list[Conversation], dict[str, int]]:
    """Conversations with their questions of categories 1-4; counts what had to be skipped."""
    data = load_locomo(path)
    if limit:
        data = data[:limit]
    by_id: dict[str, Conversation] = {}
    for s in locomo_sessions(data):
        by_id.setdefault(s.sample_id, Conversation(s.sample_id, [])).sessions.append(s)
    stats = {"questions": 0, "skipped_references": 0, "questions_without_evidence": 0}
    for sample in data:
        conv = by_id[str(sample["sample_id"])]
        known = {norm_dia(t.dia_id) or t.dia_id for s in conv.sessions for t in s.turns}
        for qa in sample["qa"]:
            if qa.get("category") not in CATEGORIES:
                continue
            evidence, skipped = parse_evidence(qa.get("evidence") or [], known)
            stats["skipped_references"] += skipped
            if not evidence:
                stats["questions_without_evidence"] += 1
                continue
            conv.questions.append(Question(str(qa["question"]), int(qa["category"]), evidence))
            stats["questions"] += 1
    return list(by_id.values()), stats


@dataclass
class SizeResult:
    size: int | str
    units: int = 0
    tokens: int = 0
    truncated: int = 0
    seconds: float = 0.0
    # per budget: summed fraction of evidence contained, questions with all of it, by category
    recall: dict[int, dict[int, float]] = field(default_factory=dict)
    complete: dict[int, dict[int, int]] = field(default_factory=dict)
    asked: dict[int, int] = field(default_factory=dict)

    def row(self, budgets: Sequence[int]) -> dict[str, Any]:
        n = sum(self.asked.values())
        out: dict[str, Any] = {
            "size": self.size, "units": self.units, "mean_tokens": round(self.tokens / self.units, 1),
            "truncated_share": round(self.truncated / self.units, 4),
            "embed_seconds": round(self.seconds, 2),
            "chunks_per_s": round(self.units / self.seconds, 1), "tokens_per_s": round(self.tokens / self.seconds, 1),
        }
        for b in budgets:
            out[f"evidence_recall@{b}"] = round(sum(self.recall[b].values()) / n, 3)
            out[f"all_evidence@{b}"] = round(sum(self.complete[b].values()) / n, 3)
            out[f"all_evidence@{b}_by_category"] = {
                CATEGORIES[c]: round(self.complete[b].get(c, 0) / self.asked[c], 3) for c in sorted(self.asked)
            }
        return out


def evaluate(
    conversations: Sequence[Conversation], sizes: Sequence[int | str], budgets: Sequence[int],
    embedder: Any, max_wordpieces: int, wordpieces: Any, log: Any = sys.stderr,
) -> tuple[list[SizeResult], float]:
    """Embed every size's units (sizes interleaved per conversation, so machine noise hits all alike)."""
    results = {s: SizeResult(s, recall={b: {} for b in budgets}, complete={b: {} for b in budgets}) for s in sizes}
    question_seconds = 0.0
    for k, conv in enumerate(conversations):
        t = time.perf_counter()
        q_vectors = embedder.embed([q.text for q in conv.questions])
        question_seconds += time.perf_counter() - t
        for size in sizes:
            units = chunk_units(conv.sessions, size)
            t = time.perf_counter()
            vectors = embedder.embed(units.texts)
            r = results[size]
            r.seconds += time.perf_counter() - t
            r.units += len(units.texts)
            r.tokens += int(units.tokens.sum())
            r.truncated += sum(1 for n in wordpieces(units.texts) if n > max_wordpieces)
            orders = np.argsort(-(q_vectors @ vectors.T), axis=1, kind="stable")
            for q, order in zip(conv.questions, orders, strict=True):
                r.asked[q.category] = r.asked.get(q.category, 0) + 1
                for b in budgets:
                    got = contained(q.evidence, units.needs, pack(order, units.tokens, b))
                    r.recall[b][q.category] = r.recall[b].get(q.category, 0.0) + got / len(q.evidence)
                    r.complete[b][q.category] = r.complete[b].get(q.category, 0) + int(got == len(q.evidence))
        print(f"conversation {k + 1}/{len(conversations)} ({conv.sample_id}) done", file=log, flush=True)
    return [results[s] for s in sizes], question_seconds


def docs_truncation(sizes: Sequence[int | str], max_wordpieces: int, wordpieces: Any) -> dict[int | str, float]:
    """Share of chunks the model cuts short on technical text (the stdlib docstrings of the corpus)."""
    docs = list(docstring_docs(Path(sysconfig.get_paths()["stdlib"]), "stdlib"))
    out: dict[int | str, float] = {}
    for size in sizes:
        if size == TURN:
            continue
        texts = [c.text for d in docs for c in chunk_text(d.text, int(size))]
        out[size] = round(sum(1 for n in wordpieces(texts) if n > max_wordpieces) / len(texts), 4)
    return out


def table(rows: Sequence[dict[str, Any]], budgets: Sequence[int]) -> str:
    head = f"{'size':>6}{'chunks':>8}{'tokens':>8}{'trunc':>7}{'chunks/s':>10}{'tokens/s':>10}"
    head += "".join(f"{'recall@' + str(b):>13}{'all@' + str(b):>10}" for b in budgets)
    head += f"{'trunc(docs)':>13}"
    lines = [head]
    for r in rows:
        line = (f"{r['size']:>6}{r['units']:>8}{r['mean_tokens']:>8.1f}{r['truncated_share']:>7.1%}"
                f"{r['chunks_per_s']:>10.1f}{r['tokens_per_s']:>10.0f}")
        line += "".join(f"{r[f'evidence_recall@{b}']:>13.3f}{r[f'all_evidence@{b}']:>10.3f}" for b in budgets)
        docs = r.get("truncated_share_docs")
        lines.append(line + (f"{docs:>13.1%}" if docs is not None else f"{'-':>13}"))
    b = budgets[0]
    cats = list(rows[0][f"all_evidence@{b}_by_category"])
    lines.append("")
    lines.append(f"all evidence within {b} tokens, by category")
    lines.append(f"{'size':>6}" + "".join(f"{c:>13}" for c in cats))
    for r in rows:
        lines.append(f"{r['size']:>6}" + "".join(f"{r[f'all_evidence@{b}_by_category'][c]:>13.3f}" for c in cats))
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks chunk-size", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64,128,192,256", help="chunk sizes in cl100k tokens, comma-separated")
    p.add_argument("--budgets", default="1000,2000", help="context budgets in tokens, comma-separated")
    p.add_argument("--conversations", type=int, default=None, help="use only the first N conversations")
    p.add_argument("--no-turn-baseline", action="store_true", help="skip the one-item-per-turn baseline")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    sizes: list[int | str] = [int(s) for s in args.sizes.split(",")] + ([] if args.no_turn_baseline else [TURN])
    budgets = [int(b) for b in args.budgets.split(",")]
    started = time.perf_counter()
    conversations, stats = load_conversations(args.locomo, args.conversations)

    import torch
    from agentmem.embeddings.minilm import load_minilm

    settings = Settings()
    embedder = load_minilm(batch_size=settings.embed_batch_size)
    # After the import (transformers sets its own level then): "longer than 256" is what we count.
    logging.getLogger("transformers").setLevel(logging.ERROR)
    model = embedder._model  # the tokenizer and its limit, to count chunks the model cuts short
    max_wordpieces = int(model.max_seq_length)

    def wordpieces(texts: list[str]) -> list[int]:
        return [len(ids) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]]

    embedder.embed(["warm-up"])
    results, question_seconds = evaluate(conversations, sizes, budgets, embedder, max_wordpieces, wordpieces)
    truncation = docs_truncation(sizes, max_wordpieces, wordpieces)
    rows = [r.row(budgets) | {"truncated_share_docs": truncation.get(r.size)} for r in results]
    print(f"{len(conversations)} conversations, {stats['questions']} questions (categories 1-4);"
          f" skipped {stats['skipped_references']} evidence references naming no turn and"
          f" {stats['questions_without_evidence']} questions left without evidence")
    print(table(rows, budgets))
    result = {
        "benchmark": "chunk_size",
        "config": {"sizes": sizes, "budgets": budgets, "conversations": [c.sample_id for c in conversations],
                   "embed_batch_size": settings.embed_batch_size, "service_chunk_tokens": settings.chunk_tokens,
                   "model_max_wordpieces": max_wordpieces},
        "data": stats,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                        "model": embedder.name, "model_version": embedder.version, "loadavg_after": os.getloadavg()},
        "question_embed_seconds": round(question_seconds, 2),
        "results": rows,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
