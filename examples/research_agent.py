"""An agent loop you can run: a task with pinned constraints, a few steps of assemble -> model -> scratchpad
(each result cited to the items of the context it used), the unsourced claims, completion, freshness.

    AGENTMEM_URL=http://127.0.0.1:8000 AGENTMEM_API_KEY=... python examples/research_agent.py --seed

The model is any OpenAI-compatible endpoint when OPENAI_BASE_URL and OPENAI_API_KEY are set (OPENAI_MODEL,
default gpt-4o-mini); otherwise a deterministic stand-in that quotes the best unused item of the context,
so the loop runs offline (it is labelled as a stand-in in the output). It uses only agentmem_client and httpx.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence

import httpx
from agentmem_client import AgentMem, Citation
from agentmem_client.types import Assembled, ContextItem

GOAL = "Explain how PostgreSQL with pgvector answers a similarity query, and what to tune"
CONSTRAINTS = ["cite a source for every claim", "answer in plain sentences, no marketing"]
PINNED = {"audience": "the on-call database engineers"}
STEPS = [
    "How does pgvector find the nearest neighbours of a query vector?",
    "Which settings trade recall for speed in an HNSW index?",
    "When does keyword search find what vector search misses?",
]
# A few notes to run against an empty namespace (--seed); upserted by source_uri, so seeding twice is harmless.
NOTES = {
    "notes://pgvector-hnsw": "pgvector builds an HNSW index over the embeddings: a layered graph whose query "
                             "walks from a coarse layer to the nearest neighbours of the query vector.",
    "notes://hnsw-tuning": "hnsw.ef_search sets how many candidates an HNSW query visits: higher means better "
                           "recall and slower queries. m and ef_construction set the graph's density at build.",
    "notes://bm25": "Keyword search (BM25) ranks by term frequency; it finds exact names, codes and rare "
                    "words that embeddings blur.",
    "notes://ivfflat": "IVFFlat partitions the vectors into lists; ivfflat.probes sets how many lists a query "
                       "scans.",
}
REF = re.compile(r"\[([A-Z]\d+)\]")
Model = Callable[[str, str], str]  # (context, question) -> answer citing refs as [M3]


def openai_model(base_url: str, api_key: str, model: str) -> Model:
    """An OpenAI-compatible /chat/completions endpoint, asked to answer from the context only."""

    def answer(context: str, question: str) -> str:
        r = httpx.post(f"{base_url.rstrip('/')}/chat/completions", timeout=120,
                       headers={"Authorization": f"Bearer {api_key}"},
                       json={"model": model, "temperature": 0, "messages": [
                           {"role": "system", "content": "Answer from the context only, in one to three "
                            "sentences. After each claim, cite the refs of the context lines you used, as [M3]."},
                           {"role": "user", "content": f"{context}\n\nQuestion: {question}"}]})
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"]).strip()

    return answer


def stand_in_model(manifest: Callable[[], Sequence[ContextItem]], used: set[str]) -> Model:
    """Deterministic, offline: quotes the first sentence of the best long-term item not yet used."""

    def answer(context: str, question: str) -> str:
        fresh = [i for i in manifest() if i.kind != "pinned" and i.ref.startswith("M") and i.id not in used]
        if not fresh:
            return "The context holds nothing new on this question."
        best = fresh[0]
        used.add(best.id)
        first = re.split(r"(?<=[.!?])\s", best.text.strip(), maxsplit=1)[0]
        return f"{first} [{best.ref}]"

    return answer


def citations_for(answer: str, ctx: Assembled) -> list[Citation]:
    """The context items the answer cites by ref, as citations (a scratchpad item passes on its own)."""
    by_ref = {item.ref: item for item in ctx.manifest}
    cited: list[Citation] = []
    for ref in dict.fromkeys(REF.findall(answer)):
        item = by_ref.get(ref)
        if item is None:
            continue  # a ref the model made up: not a source
        if item.source_uri:
            cited.append(Citation(source=item.source_uri, locator=ref, quote=item.text[:500]))
        else:
            cited += [Citation(**c) for c in item.citations or []]
    return cited


def describe(ctx: Assembled) -> str:
    tiers = ", ".join(f"{s.tier} {len(s.items)} items/{s.tokens} tok" for s in ctx.sections)
    refs = " ".join(f"{i.ref}={i.source_uri or i.kind}" for i in ctx.manifest if i.kind != "pinned")
    return f"  assembled {ctx.tokens}/{ctx.budget_tokens} tokens ({tiers}); dropped {len(ctx.dropped)}\n  refs: {refs}"


def run(mem: AgentMem, steps: Sequence[str], budget: int) -> None:
    task = mem.tasks.create(GOAL, constraints=CONSTRAINTS, pinned=PINNED)
    print(f"task {task.id}: {task.goal}")
    base, key = os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY")
    current: list[Assembled] = []
    if base and key:
        name = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
        model, label = openai_model(base, key, name), f"{name} at {base}"
    else:
        model = stand_in_model(lambda: current[-1].manifest, set())
        label = "STAND-IN (deterministic, quotes the context; set OPENAI_BASE_URL and OPENAI_API_KEY for a model)"
    print(f"model: {label}")
    for n, question in enumerate(steps, 1):
        ctx = mem.context.assemble(question, budget_tokens=budget, task_id=task.id)
        current.append(ctx)
        print(f"step {n}: {question}\n{describe(ctx)}")
        answer = model(ctx.text, question)
        cited = citations_for(answer, ctx)
        entry = mem.scratchpad.add(task.id, answer, kind="result", step=n, citations=cited, unsourced=not cited)
        print(f"  answer: {answer}\n  wrote entry {entry.seq}, citing {[c.source for c in cited] or 'nothing'}")
    unsourced = mem.scratchpad.unsourced(task.id)
    print(f"unsourced claims: {len(unsourced)}")
    for e in unsourced:
        print(f"  step {e.step}: {e.content}")
    done = mem.tasks.complete(task.id, outcome="answered" if not unsourced else "answered, with unsourced claims")
    print(f"completed: summary stored as document {done.summary_document_id}")
    fresh = mem.freshness(worst=3)
    score = "n/a" if fresh.score is None else f"{fresh.score:.2f}"
    print(f"freshness: score {score}, {fresh.documents} documents, {fresh.stale} stale")
    for d in fresh.worst:
        print(f"  {d.source_uri}: {d.score:.2f}{' (stale)' if d.stale else ''}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", action="store_true", help="upsert a few example notes first")
    parser.add_argument("--budget", type=int, default=800, help="tokens per assembled context")
    parser.add_argument("--step", action="append", help="a question per step (default: three on pgvector)")
    args = parser.parse_args(argv)
    with AgentMem() as mem:  # AGENTMEM_URL, AGENTMEM_API_KEY
        if args.seed:
            mem.documents.batch([{"source_uri": uri, "text": text} for uri, text in NOTES.items()])
        run(mem, args.step or STEPS, args.budget)


if __name__ == "__main__":
    main()
