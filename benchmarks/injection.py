"""Injection benchmark: does the write-time screener catch injected instructions, and what does it cost
in false alarms on ordinary text?

- injection-dev (`../shared/data/injection-dev/injection_dev.jsonl`): recall (label 1) and false-positive
  rate (label 0) per `kind`, on a tuning part and a held-out part split by a fixed rule: rows are
  grouped by their attack (the InjecAgent attacker case, the garak injection instruction) or, for
  benign rows, by their source; a group is held out when sha256("injection-split:" + group) starts
  with an even byte. The screener's patterns were tuned looking at the tuning part only.
- benign corpora, false-positive rate: LoCoMo turns, this repository's README and docs (paragraphs),
  Python standard-library docstrings (paragraphs), NFCorpus abstracts.
- baseline in the same run: the old pattern screener (five regexes) on the same rows.
Prints a table and writes JSON. Run: `python -m benchmarks injection`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sysconfig
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agentmem.memory.screening import screen
from benchmarks.corpus import REPO, SHARED_DATA, docstring_docs, load_locomo, turn_text

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "injection.json"
DATA = SHARED_DATA

_OLD = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in (
    (r"\b(ignore|disregard|forget|override)\b[^.\n]{0,40}\b(previous|prior|above|earlier|all|your|the)\b"
    r"[^.\n]{0,20}\b(instructions?|prompts?|rules|directions|guidelines)\b"),
    r"\byou are now\b|\bact as (an?|the) \w+|\bnew instructions?\s*:",
    r"\b(system prompt|developer message|jailbreak)\b",
    r"<\|(im_start|im_end|system|assistant|user)\|>|^\s*(system|assistant)\s*:",
    r"\b(send|post|upload|exfiltrate)\b[^.\n]{0,60}\b(api[ _-]?key|password|secret|token|credentials)\b",
)]


def old_screen(text: str) -> list[str]:
    """The screener this one replaces (retrieval.trust before issue 10), kept here as the baseline."""
    return ["old"] if any(p.search(text) for p in _OLD) else []


def group_of(row: dict[str, Any]) -> str:
    """Rows that share an attack share a group, so one attack never sits on both sides of the split."""
    source = str(row["source"])
    case = re.search(r"attacker_cases_\w+\.jsonl#L\d+", source)
    if row["label"] == 1 and case:
        return case.group(0)
    instr = re.search(r"#(\w+) .*?(injection_instructions\[\d+\])", source)
    if row["label"] == 1 and instr:
        return f"{instr.group(1)} {instr.group(2)}"
    return source


def held_out(row: dict[str, Any]) -> bool:
    return hashlib.sha256(("injection-split:" + group_of(row)).encode()).digest()[0] % 2 == 0


def load_dev(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def per_kind(rows: list[dict[str, Any]], fn: Callable[[str], list[str]]) -> dict[str, dict[str, Any]]:
    """Recall on label 1 and false-positive rate on label 0, per kind and overall."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # pos, caught, neg, false alarms
    for row in rows:
        hit = bool(fn(row["text"]))
        for key in (row["kind"], "all"):
            c = counts[key]
            if row["label"] == 1:
                c[0] += 1
                c[1] += hit
            else:
                c[2] += 1
                c[3] += hit
    return {k: {"injected": c[0], "recall": c[1] / c[0] if c[0] else None,
                "benign": c[2], "fpr": c[3] / c[2] if c[2] else None} for k, c in sorted(counts.items())}


def per_attack(rows: list[dict[str, Any]], fn: Callable[[str], list[str]]) -> dict[str, dict[str, Any]]:
    """Recall per attack family (first two levels of `attack`, e.g. injecagent/dh, garak/latent)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row["label"] == 1:
            family = "/".join(str(row["attack"]).split("/")[:3 if row["attack"].startswith("garak/latent") else 2])
            counts[family][0] += 1
            counts[family][1] += bool(fn(row["text"]))
    return {k: {"injected": n, "recall": c / n} for k, (n, c) in sorted(counts.items())}


def paragraphs(text: str, min_chars: int = 40) -> Iterator[str]:
    for para in re.split(r"\n\s*\n", text):
        if len(para.strip()) >= min_chars:
            yield para.strip()


def benign_corpora(locomo: str | None, stdlib_limit: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    out["locomo_turns"] = _locomo_turns(locomo)
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    out["repo_docs"] = [p for d in docs for p in paragraphs(d.read_text(encoding="utf-8"))]
    std: list[str] = []
    for doc in docstring_docs(Path(sysconfig.get_paths()["stdlib"]), "stdlib"):
        std.extend(paragraphs(doc.text))
        if len(std) >= stdlib_limit:
            break
    out["stdlib_docstrings"] = std[:stdlib_limit]
    nf = DATA / "nfcorpus" / "corpus.jsonl"
    if nf.is_file():
        with nf.open(encoding="utf-8") as f:
            out["nfcorpus_abstracts"] = [json.loads(line)["text"] for line in f if line.strip()]
    return out


def _locomo_turns(locomo: str | None) -> list[str]:
    turns = []
    for sample in load_locomo(locomo or DATA / "locomo10.json"):
        conv = sample["conversation"]
        for key, value in conv.items():
            if re.fullmatch(r"session_\d+", key) and isinstance(value, list):
                turns.extend(turn_text(t) for t in value)
    return turns


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks injection", description=__doc__.splitlines()[0])
    p.add_argument("--dev", type=Path, default=DATA / "injection-dev" / "injection_dev.jsonl")
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--stdlib-paragraphs", type=int, default=20000)
    p.add_argument("--show-misses", choices=["tuning", "none"], default="none",
                   help="print the tuning part's misses and false alarms (never the held-out part's)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = p.parse_args(argv)

    rows = load_dev(args.dev)
    parts = {"held_out": [r for r in rows if held_out(r)], "tuning": [r for r in rows if not held_out(r)]}
    results: dict[str, Any] = {"dev": {}, "benign": {}, "split": {k: len(v) for k, v in parts.items()}}
    for name, fn in (("screener", screen), ("old_patterns", old_screen)):
        results["dev"][name] = {part: per_kind(prows, fn) for part, prows in parts.items()}
        results.setdefault("by_attack", {})[name] = {part: per_attack(prows, fn) for part, prows in parts.items()}
    if args.show_misses == "tuning":
        for r in parts["tuning"]:
            if bool(screen(r["text"])) != bool(r["label"]):
                print(f"--- {'MISS' if r['label'] else 'FALSE ALARM'} {r['kind']} {screen(r['text'])}\n{r['text'][:700]}")

    corpora = benign_corpora(args.locomo, args.stdlib_paragraphs)
    for cname, texts in corpora.items():
        t0 = time.perf_counter()
        hits = [t for t in texts if screen(t)]
        us = (time.perf_counter() - t0) / max(len(texts), 1) * 1e6
        old = sum(1 for t in texts if old_screen(t))
        results["benign"][cname] = {"texts": len(texts), "fpr": len(hits) / max(len(texts), 1),
                                    "old_patterns_fpr": old / max(len(texts), 1), "us_per_text": us,
                                    "examples": [{"text": h[:200], "flags": screen(h)} for h in hits[:8]]}

    print(f"\ninjection-dev split: {results['split']} (by sha256 of the attack group)")
    print(f"{'part':9} {'kind':14} {'inj':>4} {'recall':>7} {'old':>7} {'benign':>6} {'FPR':>7} {'old':>7}")
    for part in ("held_out", "tuning"):
        new, old = results["dev"]["screener"][part], results["dev"]["old_patterns"][part]
        for kind, s in new.items():
            print(f"{part:9} {kind:14} {s['injected']:4d} {_fmt(s['recall'])}  {_fmt(old[kind]['recall'])}"
                  f" {s['benign']:6d} {_fmt(s['fpr'])}  {_fmt(old[kind]['fpr'])}")
    print(f"\n{'part':9} {'attack family':28} {'inj':>4} {'recall':>7} {'old':>7}")
    for part in ("held_out", "tuning"):
        new, old = results["by_attack"]["screener"][part], results["by_attack"]["old_patterns"][part]
        for fam, a in new.items():
            print(f"{part:9} {fam:28} {a['injected']:4d} {a['recall']:7.3f} {old[fam]['recall']:7.3f}")
    print(f"\n{'benign corpus':20} {'texts':>6} {'FPR':>7} {'old':>7} {'us/text':>8}")
    for cname, s in results["benign"].items():
        print(f"{cname:20} {s['texts']:6d} {s['fpr']:7.4f} {s['old_patterns_fpr']:7.4f} {s['us_per_text']:8.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")
    return 0
