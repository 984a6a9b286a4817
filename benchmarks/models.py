"""Embedding models compared: all-MiniLM-L6-v2 (the baseline) against the static model distilled from it.

For each model: embedding speed (chunks per second, batched, on LoCoMo turns; one query alone) and
vector retrieval quality on LoCoMo (evidence recall@k of each question over its conversation's
turns, one vector per turn with the preceding turn as context, as the service indexes them; exact
cosine search in numpy, so the figures are the models', not the index's). The static model's
one-time distillation is timed too (uncached, into a temporary folder).

    python -m benchmarks models [--conversations 10] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmarks.corpus import load_locomo
from benchmarks.locomo import conversation_turns, questions
from agentmem.memory.documents import index_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "models.json"


def speed(embedder: Any, texts: list[str], queries: list[str]) -> dict[str, float]:
    embedder.embed(texts[:32])  # warm-up
    started = time.perf_counter()
    embedder.embed(texts)
    batched = time.perf_counter() - started
    single = []
    for q in queries:
        t = time.perf_counter()
        embedder.embed([q])
        single.append((time.perf_counter() - t) * 1000)
    return {"chunks_per_s": round(len(texts) / batched, 1), "ms_per_chunk": round(batched / len(texts) * 1000, 3),
            "query_ms_p50": round(float(np.median(single)), 3)}


def recall(embedder: Any, data: list[dict[str, Any]], ks: Sequence[int]) -> dict[str, Any]:
    """Evidence recall@k per question, averaged, each conversation searched on its own."""
    found: dict[int, list[float]] = {k: [] for k in ks}
    for conv in data:
        turns = conversation_turns(conv)
        texts = [index_text(turns[i - 1].text if i else None, t.text) for i, t in enumerate(turns)]
        vectors = embedder.embed(texts)
        stats = {"evidence_refs_skipped": 0, "questions_without_evidence": 0}
        qs = list(questions(conv, {t.dia_id for t in turns}, stats))
        qvecs = embedder.embed([q.question for q in qs])
        for q, qv in zip(qs, qvecs, strict=True):
            order = np.argsort(-(vectors @ qv), kind="stable")
            for k in ks:
                top = {turns[i].dia_id for i in order[:k]}
                found[k].append(len(top & q.evidence) / len(q.evidence))
    return {f"recall@{k}": round(float(np.mean(v)), 4) for k, v in found.items()} | {"questions": len(found[ks[0]])}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks models", description=__doc__.split("\n")[0])
    p.add_argument("--conversations", type=int, default=10, help="LoCoMo conversations to use (default all 10)")
    p.add_argument("--k", type=int, nargs="+", default=[5, 10, 20])
    p.add_argument("--speed-chunks", type=int, default=2000)
    p.add_argument("--locomo", default=None)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    from agentmem.embeddings import static
    from agentmem.embeddings.minilm import load_minilm

    data = load_locomo(args.locomo)[: args.conversations]
    turns = [t.text for conv in data for t in conversation_turns(conv)]
    texts = turns[: args.speed_chunks]
    queries = [str(qa["question"]) for conv in data for qa in conv["qa"]][:200]
    minilm = load_minilm()
    with tempfile.TemporaryDirectory(prefix="agentmem-distil-") as tmp:
        started = time.perf_counter()
        small = static.load_static(Path(tmp))
        distill_s = round(time.perf_counter() - started, 1)
    result: dict[str, Any] = {"distill_s": distill_s, "speed_chunks": len(texts), "models": {}}
    for embedder in (minilm, small):
        print(f"measuring {embedder.name} ...", file=sys.stderr, flush=True)
        result["models"][embedder.name] = {
            "version": embedder.version, "dimension": embedder.dimension,
            **speed(embedder, texts, queries[:100]), **recall(embedder, data, args.k),
        }
    result["loadavg_after"] = os.getloadavg()
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def table(result: dict[str, Any]) -> str:
    models = result["models"]
    ks = [key for key in next(iter(models.values())) if key.startswith("recall@")]
    head = f"{'model':<22}{'dim':>5}{'chunks/s':>10}{'ms/chunk':>10}{'query ms':>10}" + "".join(f"{k:>11}" for k in ks)
    lines = [head]
    for name, m in models.items():
        lines.append(f"{name:<22}{m['dimension']:>5}{m['chunks_per_s']:>10}{m['ms_per_chunk']:>10}"
                     f"{m['query_ms_p50']:>10}" + "".join(f"{m[k]:>11}" for k in ks))
    lines.append(f"static model distilled in {result['distill_s']} s (once per machine, then cached); "
                 f"{next(iter(models.values()))['questions']} LoCoMo questions, {result['speed_chunks']} turns timed")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
