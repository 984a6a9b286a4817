"""LoCoMo benchmark: evidence recall per retrieval strategy, and evidence-in-context per token budget.

Each conversation goes into its own namespace, one item per turn (speaker, session, date and
dia_id in metadata), through the real HTTP API. For every question of categories 1-4:
- evidence recall@5/10/20 of POST /search with keyword_only, vector_only and hybrid_rrf;
- evidence-in-context at 1,000 / 2,000 / 4,000 tokens: whether every evidence turn is in the
  context POST /context/assemble returns, against the baseline "the most recent turns that fit";
- assemble latency (p50/p95, client side).
Prints a table and writes JSON. Run: `python -m benchmarks locomo` (or `python -m benchmarks.locomo`).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import httpx

from agentmem.core.tokens import count_tokens
from benchmarks import polite
from benchmarks.corpus import load_locomo, session_numbers, turn_text
from agentmem.api.in_thread import embedded_database, make_tenant, serve

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "locomo.json"
STRATEGIES = ("keyword_only", "vector_only", "hybrid_rrf", "hybrid_zscore")
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
_DIA = re.compile(r"^D(\d+):(\d+)$")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    session: int
    date: str
    speaker: str
    text: str


@dataclass(frozen=True)
class Question:
    sample_id: str
    question: str
    category: int
    evidence: frozenset[str]


def session_date(raw: str) -> datetime | None:
    try:
        return datetime.strptime(raw.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def conversation_turns(conv: dict[str, Any]) -> list[Turn]:
    c = conv["conversation"]
    turns = []
    for n in session_numbers(c):
        date = str(c.get(f"session_{n}_date_time", ""))
        for t in c[f"session_{n}"]:
            turns.append(Turn(t["dia_id"], n, date, t["speaker"], turn_text(t)))
    return turns


def normalise_evidence(refs: Sequence[str], known: set[str]) -> tuple[set[str], int]:
    """Split "D8:6; D9:17", drop leading zeros ("D30:05"); return the known ids and how many were skipped."""
    found: set[str] = set()
    skipped = 0
    for ref in refs:
        for part in str(ref).replace(",", ";").split(";"):
            m = _DIA.match(part.strip())
            dia = f"D{int(m.group(1))}:{int(m.group(2))}" if m else None
            if dia in known:
                found.add(dia)
            else:
                skipped += 1
    return found, skipped


def questions(conv: dict[str, Any], known: set[str], stats: dict[str, int]) -> Iterator[Question]:
    for qa in conv["qa"]:
        if qa.get("category") not in CATEGORIES:
            continue
        evidence, skipped = normalise_evidence(qa.get("evidence") or [], known)
        stats["evidence_refs_skipped"] += skipped
        if not evidence:
            stats["questions_without_evidence"] += 1
            continue
        yield Question(conv["sample_id"], qa["question"], int(qa["category"]), frozenset(evidence))


def recent_turns_baseline(turns: list[Turn], budget: int) -> set[str]:
    """What a plain chat loop sends: the newest turns, one per line, while they fit."""
    lines: list[str] = []
    kept: set[str] = set()
    for t in reversed(turns):
        candidate = [t.text, *lines]
        if count_tokens("\n".join(candidate)) > budget:
            break
        lines = candidate
        kept.add(t.dia_id)
    return kept


def _dia_of(source_uri: str) -> str:
    return source_uri.rsplit("/", 1)[-1]


def turn_context(turns: list[Turn], i: int) -> str | None:
    """The turn before turn i in its session: what a reply answers. (Adding the next turn too was
    measured worse: keyword recall@10 0.709 against 0.719 with the previous turn alone.)"""
    if i > 0 and turns[i - 1].session == turns[i].session:
        return turns[i - 1].text
    return None


def ingest(client: httpx.Client, headers: dict[str, str], sample_id: str, turns: list[Turn],
           contextual: bool) -> float:
    """One item per turn; with `contextual`, the preceding turn is indexed with it (not shown)."""
    started = time.perf_counter()
    docs = [{
        "source_uri": f"locomo:{sample_id}/{t.dia_id}", "text": t.text,
        **({"context": ctx} if contextual and (ctx := turn_context(turns, i)) else {}),
        "metadata": {"speaker": t.speaker, "session": t.session, "date": t.date, "dia_id": t.dia_id},
        "source_updated_at": (d.isoformat() if (d := session_date(t.date)) else None),
    } for i, t in enumerate(turns)]
    for i in range(0, len(docs), 100):
        r = client.post("/documents/batch", json={"documents": docs[i : i + 100]}, headers=headers)
        r.raise_for_status()
        bad = [x for x in r.json()["results"] if x["status"] == "error"]
        if bad:
            raise RuntimeError(f"ingest failed: {bad[:3]}")
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from agentmem.core.settings import Settings
    from agentmem.embeddings.catalog import service_embedders

    data = select_conversations(load_locomo(args.locomo), args.conversations)
    ks = [5, 10, 20]
    budgets = [int(b) for b in args.budgets.split(",") if b]  # "" = recall@k only, no assemble
    embedder = service_embedders(Settings()).get(args.model)
    stats: dict[str, int] = defaultdict(int)
    # per question rows: category, recall per strategy/k, in-context per budget (assemble, recent)
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    server_ms: dict[str, list[float]] = defaultdict(list)
    ingest_s = 0.0
    with (embedded_database() if not args.database_url else _given(args.database_url)) as url, \
            serve(url, embedder) as running, polite.client(running.base_url, timeout=120) as client:
        for conv in data:
            sid = conv["sample_id"]
            turns = conversation_turns(conv)
            known = {t.dia_id for t in turns}
            headers, exists = tenant_for(running, f"locomo-{sid}{args.namespace_suffix}", args.reuse)
            if not exists:
                ingest_s += ingest(client, headers, sid, turns, not args.no_context)
            stats["turns"] += len(turns)
            baselines = {b: recent_turns_baseline(turns, b) for b in budgets}
            for q in questions(conv, known, stats):
                row: dict[str, Any] = {"sample_id": sid, "category": q.category, "evidence": len(q.evidence)}
                for strategy in () if args.skip_search else STRATEGIES:
                    r = client.post("/search", json={"query": q.question, "k": max(ks), "strategy": strategy},
                                    headers=headers)
                    r.raise_for_status()
                    found = [_dia_of(x["source_uri"]) for x in r.json()["results"]]
                    for k in ks:
                        row[f"{strategy}@{k}"] = len(q.evidence & set(found[:k])) / len(q.evidence)
                for b in budgets:
                    started = time.perf_counter()
                    body = {"query": q.question, "budget_tokens": b}
                    if args.assemble_strategy:
                        body["strategy"] = args.assemble_strategy
                    r = client.post("/context/assemble", json=body, headers=headers)
                    latencies.append((time.perf_counter() - started) * 1000)
                    r.raise_for_status()
                    out = r.json()
                    assert out["tokens"] <= b
                    for stage, ms in out["timings_ms"].items():
                        server_ms[stage].append(ms)
                    shown = {_dia_of(i["source_uri"]) for s in out["sections"] for i in s["items"] if i.get("source_uri")}
                    row[f"assemble@{b}"] = float(q.evidence <= shown)
                    row[f"recent@{b}"] = float(q.evidence <= baselines[b])
                rows.append(row)
            print(f"  {sid}: {len(turns)} turns, {sum(1 for r in rows if r['sample_id'] == sid)} questions",
                  file=sys.stderr)
    return {"model": f"{embedder.name} {embedder.version}"} | summarise(rows, stats, latencies, server_ms, ingest_s,
                                                                       ks, budgets)


def select_conversations(data: list[Any], selection: str) -> list[Any]:
    """`--conversations`: "N" = the first N, "A-B" = conversations A to B inclusive, from 0 (tune on
    0-4, report 5-9: docs/retrieval.md)."""
    try:
        if "-" in selection:
            first, last = (int(x) for x in selection.split("-", 1))
            if first < 0 or last < first:
                raise ValueError
            return data[first : last + 1]
        return data[: int(selection)]
    except ValueError:
        raise SystemExit(f"--conversations {selection!r}: give a count (e.g. 5) or a range from 0 (e.g. 5-9)")


def tenant_for(running: Any, name: str, reuse: bool) -> tuple[dict[str, str], bool]:
    """A key for namespace `name`, and whether it already existed (then its turns are not ingested
    again: with --reuse and a kept --database-url, a run measures retrieval only)."""
    admin = {"Authorization": f"Bearer {running.admin_token}"}
    if reuse:
        with httpx.Client(base_url=running.base_url, timeout=60) as c:
            r = c.post(f"/admin/namespaces/{name}/keys", json={"label": "bench"}, headers=admin)
            if r.status_code == 200 or r.status_code == 201:
                return {"Authorization": f"Bearer {r.json()['key']}"}, True
    return make_tenant(running, name), False


class _given:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def summarise(rows: list[dict[str, Any]], stats: dict[str, int], latencies: list[float],
              server_ms: dict[str, list[float]], ingest_s: float, ks: list[int], budgets: list[int]) -> dict[str, Any]:
    metrics = [f"{s}@{k}" for s in STRATEGIES for k in ks] + [f"{m}@{b}" for b in budgets for m in ("assemble", "recent")]
    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for cat, name in CATEGORIES.items():
        groups[f"{cat} {name}"] = [r for r in rows if r["category"] == cat]
    def mean(rs: list[dict[str, Any]], m: str) -> float | None:
        values = [r[m] for r in rs if m in r]
        return round(statistics.fmean(values), 4) if values else None

    table = {g: {"questions": len(rs), **{m: mean(rs, m) for m in metrics}} for g, rs in groups.items()}
    return {
        "benchmark": "locomo",
        "questions": len(rows),
        "data": dict(stats),
        "ingest_seconds": round(ingest_s, 1),
        "results": table,
        "assemble_latency_ms": {"p50": round(pct(latencies, 0.5), 2), "p95": round(pct(latencies, 0.95), 2),
                                "calls": len(latencies)},
        "assemble_server_stage_ms_p50": {k: round(pct(v, 0.5), 2) for k, v in server_ms.items()},
    }


def _label(strategy: str) -> str:
    return strategy.replace("_only", "").replace("hybrid_", "")


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.3f}" if value is not None else f"{'-':>{width}}"


def print_table(result: dict[str, Any], budgets: list[int]) -> None:
    t = result["results"]
    print(f"model {result['model']}")
    print(f"LoCoMo: {result['questions']} questions (categories 1-4), {result['data'].get('turns')} turns; "
          f"skipped evidence refs {result['data'].get('evidence_refs_skipped', 0)}, "
          f"questions without usable evidence {result['data'].get('questions_without_evidence', 0)}")
    print("\nEvidence recall@k")
    print(f"{'group':<16}{'n':>6}" + "".join(f"{_label(s) + '@' + str(k):>14}" for s in STRATEGIES for k in (5, 10, 20)))
    for g, m in t.items():
        print(f"{g:<16}{m['questions']:>6}" + "".join(_cell(m[f"{s}@{k}"], 14) for s in STRATEGIES for k in (5, 10, 20)))
    print("\nAll evidence in context (assemble vs most recent turns)")
    print(f"{'group':<16}{'n':>6}" + "".join(f"{'asm@' + str(b):>12}{'recent@' + str(b):>12}" for b in budgets))
    for g, m in t.items():
        print(f"{g:<16}{m['questions']:>6}" + "".join(_cell(m[f"assemble@{b}"], 12) + _cell(m[f"recent@{b}"], 12)
                                                     for b in budgets))
    lat = result["assemble_latency_ms"]
    print(f"\nassemble latency: p50 {lat['p50']} ms, p95 {lat['p95']} ms over {lat['calls']} calls; "
          f"server stages p50: {result['assemble_server_stage_ms_p50']}")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks locomo", description=__doc__.splitlines()[0])
    p.add_argument("--conversations", default="10",
                   help="the first N conversations (default 10 = all), or a range from 0 such as 0-4 or 5-9")
    p.add_argument("--budgets", default="1000,2000,4000", help="token budgets, comma-separated")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--database-url", default=None, help="PostgreSQL to use (default: an embedded one under /tmp)")
    p.add_argument("--no-context", action="store_true", help="index each turn alone (no preceding turn)")
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="embedding model (embeddings/catalog.py)")
    p.add_argument("--reuse", action="store_true",
                   help="with --database-url: reuse the namespaces of an earlier run instead of ingesting again")
    p.add_argument("--namespace-suffix", default="", help="appended to each namespace name (separate variants)")
    p.add_argument("--assemble-strategy", default=None, help="strategy for assemble (default: the namespace's)")
    p.add_argument("--skip-search", action="store_true", help="measure assemble only (no recall@k per strategy)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("agentmem.assemble").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the table
    args = parse_args(list(argv or []))
    result = run(args)
    print_table(result, [int(b) for b in args.budgets.split(",") if b])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
