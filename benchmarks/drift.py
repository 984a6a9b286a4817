"""Drift benchmark: do probes and freshness see decay, and how fast is it repaired?

Through the real HTTP app with its job scheduler running (probes every few seconds, the job queue
polled), on LoCoMo conversations, one item per turn:
1. ingest, register drift probes with known answers (single-hop questions whose evidence turn the
   service finds at baseline), run them once (the baseline), read freshness;
(a) change a tenth of the documents' content at the source (the turn replaced by a turn of a
    conversation that was never ingested, so its facts are gone) and re-upsert them: the scheduled
    probe run must alert on the probes whose answers went; re-upserts re-embed at once, so the
    re-embedding job has nothing left to repair (it is asked anyway, and its work is reported);
(b) switch the namespace to the second embedding model: the scheduled re-embedding job takes the
    migration up and migrates the namespace while search keeps serving the old model (probes run
    mid-migration if it lasts long enough to catch), then flips; the probes run on the new model.
Reports probe score, failing probes, freshness and stale documents before, at detection, and after
repair, with the time to detect and to repair. Prints a table, writes JSON.
Run: `python -m benchmarks drift` (or `python -m benchmarks.drift`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import httpx

from agentmem.core.settings import Settings
from benchmarks.corpus import load_locomo
from benchmarks.locomo import conversation_turns, ingest, questions
from agentmem.api.in_thread import embedded_database, make_tenant, serve

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "drift.json"
SECOND_MODEL = "minilm-static-256"
MODELS_CACHE = Path("/tmp/agentmem-models")  # the distilled static model, kept between runs


@dataclass
class Snapshot:
    phase: str
    at_s: float  # seconds since the run started
    probe_score: float | None
    probes_failing: int
    freshness: float | None
    stale_documents: int
    documents: int
    alerts: int
    model: str
    note: str = ""


@dataclass
class Drift:
    snapshots: list[Snapshot] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def wait_for(check: Callable[[], Any], timeout: float, every: float = 0.25) -> tuple[Any, float]:
    """Poll until `check()` returns something truthy; returns it and the seconds waited."""
    started = time.perf_counter()
    while True:
        value = check()
        if value:
            return value, time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"gave up after {timeout:.0f} s")
        time.sleep(every)


class Api:
    def __init__(self, client: httpx.Client, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.client.request(method, path, headers=self.headers, **kw)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()


def run_probes(api: Api, timeout: float) -> None:
    """Run the probes now; if a scheduled run holds the job, wait for it to finish."""
    ran = api.call("POST", "/probes/run")
    if not ran.get("ran_here", True):
        job = ran["job"]["id"]
        wait_for(lambda: api.call("GET", f"/jobs/{job}")["status"] in ("done", "failed"), timeout)


def snapshot(api: Api, phase: str, t0: float, probe_below: float, note: str = "") -> Snapshot:
    quality = api.call("GET", "/probes/score")
    probes = api.call("GET", "/probes")
    fresh = api.call("GET", "/freshness", params={"worst": 0})
    model = api.call("GET", "/settings/embedding")
    failing = sum(1 for p in probes if p.get("latest_run") and p["latest_run"]["recall"] < probe_below)
    active = model["active"]["name"] + (f" -> {model['target']['name']}" if model.get("target") else "")
    return Snapshot(phase, round(time.perf_counter() - t0, 2), quality["score"], failing, fresh["score"],
                    fresh["stale"], fresh["documents"], len(api.call("GET", "/alerts")), active, note)


def run(args: argparse.Namespace) -> Drift:
    from agentmem.embeddings.minilm import load_minilm

    rng = random.Random(args.seed)
    data = load_locomo(args.locomo)
    used, spare = data[: args.conversations], data[args.conversations :]
    embedder = load_minilm()
    settings = Settings(job_poll_seconds=0.5, probes_every_seconds=args.probe_every,
                        reembed_every_seconds=args.reembed_every, models_dir=MODELS_CACHE)
    out = Drift()
    with embedded_database() as url, serve(url, embedder, settings, scheduler=True) as running, \
            httpx.Client(base_url=running.base_url, timeout=600) as client:
        api = Api(client, make_tenant(running, "drift"))
        t0 = time.perf_counter()
        turns_by_uri: dict[str, Any] = {}
        candidates = []
        for conv in used:
            sid = conv["sample_id"]
            turns = conversation_turns(conv)
            ingest(client, api.headers, sid, turns, contextual=True)
            turns_by_uri |= {f"locomo:{sid}/{t.dia_id}": t for t in turns}
            stats: dict[str, int] = {"evidence_refs_skipped": 0, "questions_without_evidence": 0}
            candidates += [(sid, q) for q in questions(conv, {t.dia_id for t in turns}, stats) if q.category == 4]
        out.times["ingest_s"] = round(time.perf_counter() - t0, 1)

        # Probes with known answers: questions whose evidence the service finds now (an operator
        # registers what works, to be told when it stops working).
        rng.shuffle(candidates)
        probes = []
        for sid, q in candidates:
            expected = sorted(f"locomo:{sid}/{d}" for d in q.evidence)
            hits = api.call("POST", "/search", json={"query": q.question, "k": args.k})["results"]
            if set(expected) <= {h["source_uri"] for h in hits}:
                probes.append(api.call("POST", "/probes", json={"query": q.question, "expected": expected, "k": args.k}))
            if len(probes) == args.probes:
                break
        api.call("PUT", "/settings/alerting", json={"probe_below": args.probe_below, "score_drop": args.score_drop})
        run_probes(api, args.timeout)
        api.call("POST", "/probes/baseline", json={})  # the score of the full set, before any change
        out.facts |= {"documents": len(turns_by_uri), "probes": len(probes), "k": args.k,
                      "conversations": [c["sample_id"] for c in used]}
        out.snapshots.append(snapshot(api, "baseline", t0, args.probe_below))

        # (a) A tenth of the documents change at the source; their owner re-upserts them.
        expected_uris = {u for p in probes for u in p["expected"]}
        changed = rng.sample(sorted(turns_by_uri), max(1, len(turns_by_uri) // 10))
        replacements = [t for conv in spare for t in conversation_turns(conv)]
        rng.shuffle(replacements)
        docs = [{"source_uri": uri, "text": replacements[i % len(replacements)].text,
                 "metadata": {"changed": True}} for i, uri in enumerate(changed)]
        alerts_before = len(api.call("GET", "/alerts"))
        t_change = time.perf_counter()
        for i in range(0, len(docs), 100):
            api.call("POST", "/documents/batch", json={"documents": docs[i : i + 100]})
        out.times["a_reupsert_s"] = round(time.perf_counter() - t_change, 2)
        out.facts["a_changed_documents"] = len(changed)
        out.facts["a_changed_probe_answers"] = len(expected_uris & set(changed))
        _, detect = wait_for(lambda: len(api.call("GET", "/alerts")) > alerts_before, args.timeout)
        out.times["a_time_to_detect_s"] = round(time.perf_counter() - t_change, 2)
        out.snapshots.append(snapshot(api, "(a) at detection", t0, args.probe_below,
                                      "scheduled probe run alerted"))
        t_repair = time.perf_counter()
        job = api.call("POST", "/jobs/reembed")
        done, _ = wait_for(lambda: (j := api.call("GET", f"/jobs/{job['id']}"))["status"] in ("done", "failed") and j,
                           args.timeout)
        out.times["a_time_to_repair_s"] = round(out.times["a_reupsert_s"], 2)
        out.times["a_reembed_job_s"] = round(time.perf_counter() - t_repair, 2)
        out.facts["a_reembed_job"] = {"status": done["status"], "result": done.get("result")}
        run_probes(api, args.timeout)
        out.snapshots.append(snapshot(api, "(a) after repair", t0, args.probe_below,
                                      "re-upsert re-embedded at once; the probes whose answers left now fail"))
        # The changed answers are the new truth: the operator re-bases the probes' score.
        api.call("POST", "/probes/baseline")

        # (b) The namespace switches to the second embedding model.
        alerts_before = len(api.call("GET", "/alerts"))
        t_switch = time.perf_counter()
        change = api.call("PUT", "/settings/embedding", json={"model": args.model})
        # Detection: the scheduler's re-embedding job takes the migration up (search stays on the old
        # model meanwhile, so freshness, which scores the vectors search uses, stays as it was).
        wait_for(lambda: any(j["status"] != "queued" for j in api.call("GET", "/jobs", params={"kind": "reembed",
                                                                                             "limit": 1})),
                 args.timeout, every=0.05)
        out.times["b_time_to_detect_s"] = round(time.perf_counter() - t_switch, 2)
        out.snapshots.append(snapshot(api, "(b) at detection", t0, args.probe_below,
                                      "re-embedding job running; search on the old model"))
        mid = None
        if change.get("job"):
            def halfway() -> Any:
                m = api.call("GET", "/settings/embedding").get("migration")
                if m is None:
                    return "finished"
                return m if m["chunks_embedded"] >= m["chunks"] // 2 else None

            mid, _ = wait_for(halfway, args.timeout, every=0.1)
            if mid != "finished":
                run_probes(api, args.timeout)
                if api.call("GET", "/settings/embedding").get("target"):  # still migrating when measured
                    out.snapshots.append(snapshot(api, "(b) mid-migration", t0, args.probe_below,
                                                  f"{mid['chunks_embedded']}/{mid['chunks']} chunks on the new model;"
                                                  " search still on the old one"))
            wait_for(lambda: api.call("GET", "/settings/embedding")["active"]["name"] == args.model, args.timeout)
        out.times["b_time_to_repair_s"] = round(time.perf_counter() - t_switch, 2)
        run_probes(api, args.timeout)
        out.snapshots.append(snapshot(api, "(b) after repair", t0, args.probe_below,
                                      "namespace flipped to the new model"))
        out.facts["b_alerts"] = len(api.call("GET", "/alerts")) - alerts_before
        out.facts["b_job"] = api.call("GET", "/jobs", params={"kind": "reembed", "limit": 1})[0]
    return out


def table(d: Drift) -> str:
    lines = [f"drift: {d.facts['documents']} documents ({', '.join(d.facts['conversations'])}), "
             f"{d.facts['probes']} probes (recall@{d.facts['k']})",
             f"{'phase':<20}{'t (s)':>8}{'score':>8}{'failing':>9}{'fresh':>8}{'stale':>7}{'alerts':>8}  model",
             ]
    for s in d.snapshots:
        score = f"{s.probe_score:.3f}" if s.probe_score is not None else "-"
        fresh = f"{s.freshness:.3f}" if s.freshness is not None else "-"
        lines.append(f"{s.phase:<20}{s.at_s:>8.1f}{score:>8}{s.probes_failing:>9}{fresh:>8}{s.stale_documents:>7}"
                     f"{s.alerts:>8}  {s.model}{'  (' + s.note + ')' if s.note else ''}")
    t = d.times
    lines += ["",
              f"(a) {d.facts['a_changed_documents']} documents changed ({d.facts['a_changed_probe_answers']} probe answers"
              f" among them): re-upsert {t['a_reupsert_s']} s; detected by the scheduled probes after"
              f" {t['a_time_to_detect_s']} s; re-embedding job {t['a_reembed_job_s']} s,"
              f" result {d.facts['a_reembed_job']['result']}",
              f"(b) model switch: taken up by the scheduled job after {t['b_time_to_detect_s']} s; repaired (flipped) after"
              f" {t['b_time_to_repair_s']} s; alerts raised {d.facts['b_alerts']}"]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks drift", description=__doc__.splitlines()[0])
    p.add_argument("--conversations", type=int, default=2, help="LoCoMo conversations to ingest (default 2)")
    p.add_argument("--probes", type=int, default=60, help="probes to register (default 60)")
    p.add_argument("--k", type=int, default=10, help="probe depth (default 10)")
    p.add_argument("--probe-below", type=float, default=0.5, help="alert when a probe's recall falls below")
    p.add_argument("--score-drop", type=float, default=0.05, help="alert when the score falls this much")
    p.add_argument("--probe-every", type=float, default=5.0, help="seconds between scheduled probe runs")
    p.add_argument("--reembed-every", type=float, default=5.0, help="seconds between scheduled re-embedding checks")
    p.add_argument("--model", default=SECOND_MODEL, help=f"the model to switch to (default {SECOND_MODEL})")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for any one step")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--locomo", default=None, help="path to locomo10.json (default: $AGENTMEM_LOCOMO or ../shared/data)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("agentmem.assemble").setLevel(logging.WARNING)
    args = parse_args(list(argv or []))
    result = run(args)
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "drift", "args": {k: str(v) for k, v in vars(args).items()},
        "when": datetime.now(timezone.utc).isoformat(), "loadavg": os.getloadavg(),
        "snapshots": [s.__dict__ for s in result.snapshots], "times_s": result.times, "facts": result.facts,
    }, indent=2, default=str))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
