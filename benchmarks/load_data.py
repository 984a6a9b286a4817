"""Texts for the load benchmark, built from the shared evaluation data and never copied into the repo.

- The agents' namespace holds short documents: a few consecutive LoCoMo turns each; the agents ask
  that conversation's questions (search, assemble) and note its answers in the scratchpad, citing a
  document. Snippets not seeded are what the agents upsert later.
- The bulk-ingest namespace receives documents of ~1,000 tokens: NFCorpus abstracts (title + text)
  concatenated until the token target is reached.
Everything is deterministic for a given seed.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from agentmem.core.tokens import count_tokens
from benchmarks.corpus import locomo_path, session_numbers, turn_text

# Share of each operation in an agent's mix (issue 9).
MIX = {"assemble": 0.55, "search": 0.20, "scratchpad": 0.15, "upsert": 0.10}


@dataclass(frozen=True)
class Snippet:
    source_uri: str
    title: str
    text: str
    locator: str  # the first turn's dia_id, cited by scratchpad entries


@dataclass(frozen=True)
class QA:
    question: str
    answer: str


def nfcorpus_path(locomo: str | None) -> Path:
    """NFCorpus sits next to LoCoMo in the shared data folder."""
    return locomo_path(locomo).parent / "nfcorpus" / "corpus.jsonl"


def snippets(data: list[dict[str, Any]], turns_per: int = 4) -> list[Snippet]:
    """Consecutive turns of one session as one short document, in a shuffled but fixed order."""
    out = []
    for sample in data:
        conv, sid = sample["conversation"], str(sample["sample_id"])
        for n in session_numbers(conv):
            turns = conv[f"session_{n}"]
            when = conv.get(f"session_{n}_date_time", "")
            for i in range(0, len(turns), turns_per):
                part = turns[i : i + turns_per]
                text = "\n".join(turn_text(t) for t in part)
                first = str(part[0]["dia_id"])
                out.append(Snippet(f"locomo://{sid}/{first}", f"{sid} session {n} ({when})", text, first))
    random.Random(7).shuffle(out)
    return out


def questions(data: list[dict[str, Any]]) -> list[QA]:
    """Questions with an answer (categories 1-4), the agents' queries and notes."""
    out = [QA(str(qa["question"]), str(qa["answer"])) for sample in data for qa in sample["qa"]
           if qa.get("category") in (1, 2, 3, 4) and "answer" in qa]
    random.Random(11).shuffle(out)
    return out


def abstracts(path: Path) -> list[str]:
    found = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            found.append(f"{row.get('title', '').strip()}\n{row.get('text', '').strip()}".strip())
    return [a for a in found if a]


def long_documents(texts: list[str], target_tokens: int) -> Iterator[str]:
    """Endless ~target_tokens documents: abstracts joined in order, cycling (with a pass number) at the end."""
    for lap in itertools.count(1):
        parts: list[str] = []
        tokens = 0
        for text in texts:
            parts.append(text)
            tokens += count_tokens(text) + 1
            if tokens >= target_tokens:
                yield (f"(pass {lap})\n" if lap > 1 else "") + "\n\n".join(parts)
                parts, tokens = [], 0


class Workload:
    """The requests one simulated agent sends: operations drawn from MIX with its own seeded random source."""

    def __init__(self, name: str, seed: int, task_id: str, qas: list[QA], owned: list[Snippet],
                 fresh: list[Snippet], tag: str, budget: int) -> None:
        self.name, self.task_id, self.tag, self.budget = name, task_id, tag, budget
        self.rng = random.Random(f"{seed}/{name}")
        self.qas, self.owned, self.fresh = qas, owned, fresh
        self.n = 0
        self.ops, self.weights = list(MIX), list(MIX.values())

    def next(self) -> tuple[str, str, str, dict[str, Any]]:
        """(operation, method, path, JSON body) of the next request."""
        self.n += 1
        op = self.rng.choices(self.ops, self.weights)[0]
        qa = self.rng.choice(self.qas)
        if op == "assemble":
            return op, "POST", "/context/assemble", {"task_id": self.task_id, "query": qa.question,
                                                     "budget_tokens": self.budget}
        if op == "search":
            return op, "POST", "/search", {"query": qa.question, "k": 10}
        if op == "scratchpad":
            cited = self.rng.choice(self.owned or self.fresh)
            content = f"[{self.name} #{self.n}] {qa.question} -> {qa.answer}"
            return op, "POST", f"/tasks/{self.task_id}/scratchpad", {
                "kind": "fact", "content": content, "step": self.n,
                "citations": [{"source": cited.source_uri, "locator": cited.locator, "quote": cited.text[:200]}],
            }
        return op, "PUT", "/documents", self._document()

    def _document(self) -> dict[str, Any]:
        """Half revise a document this agent owns (an update), half write a new one."""
        if self.owned and self.rng.random() < 0.5:
            base = self.rng.choice(self.owned)
            uri = base.source_uri
        else:
            base = self.rng.choice(self.fresh)
            uri = f"{base.source_uri}?copy={self.tag}/{self.name}/{self.n}"
        text = f"{base.text}\n(revision {self.n} by {self.name}, {self.tag})"
        return {"source_uri": uri, "title": base.title, "text": text}
