"""Load benchmark (issue 9, "many agents at once"): N agents on one namespace while another bulk-ingests.

Phases, all in one run against one service:
1. setup: the agents' namespace gets short documents (LoCoMo turns) and a task; the ingest namespace
   starts empty;
2. idle: one agent, no ingest, for --idle-seconds: each route's p50/p95 alone (the baseline), after
   --warmup-seconds of the same, not measured (a cold first query would otherwise set the idle p95);
3. loaded (x --runs): --clients agents for --seconds, each on its own HTTP connection, sending the mix
   (assemble 55% with the task and budget 1,000, search 20%, scratchpad writes with citations 15%,
   document upserts 10%), while one client loops POST /documents/batch into the second namespace
   (--ingest-batch documents of ~--ingest-tokens tokens, NFCorpus abstracts);
4. readback: every write answered 2xx (documents by id with the exact text, scratchpad entries by id
   with content and citations) is read back and compared.
A 429 or 503 is honoured like a well-behaved client would (sleep Retry-After, then resend) and
counted per route with the limit its body names. A request with no answer within --timeout is a
client time-out. Reports per route count, statuses, p50/p95/max ms, throughput, the idle figures and
the assemble p95 ratio loaded/idle per run; prints a table, writes JSON.

Without --url it starts the real app in this process (embedded PostgreSQL, uvicorn in a thread; the
AGENTMEM_* environment applies) and drives it from a child process, so that client and server do not
share one interpreter lock. With --url/--admin-token it drives a running service (e.g. `make serve`);
with --workers N it starts `agentmem serve --workers N` itself (processes of their own) and drives that.
Run: `python -m benchmarks load [--quick] [--clients 50 --seconds 60 --runs 1] [--workers N] [--out results.json]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import httpx

from benchmarks import load_data as data
from benchmarks.corpus import load_locomo
from benchmarks.load_readback import Ledger, readback
from benchmarks.load_stats import Phase, Sample, is_ok, limit_of, phase_summary, ratio, table, with_stages

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "load.json"
REPO = Path(__file__).resolve().parent.parent
ROUTES = {"assemble": "POST /context/assemble", "search": "POST /search", "scratchpad": "POST /tasks/{id}/scratchpad",
          "upsert": "PUT /documents", "ingest": "POST /documents/batch"}
TARGET_RATIO = 3.0


@dataclass
class Target:
    base_url: str
    agents: dict[str, str]  # request headers of the agents' namespace
    ingest: dict[str, str]
    task_id: str
    timeout: float


def client(t: Target, headers: dict[str, str], timeout: float | None = None) -> httpx.AsyncClient:
    """One simulated client, one connection."""
    return httpx.AsyncClient(base_url=t.base_url, headers=headers, timeout=timeout or t.timeout,
                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))


async def send(http: httpx.AsyncClient, phase: Phase, route: str, method: str, path: str,
               body: Any) -> tuple[str, Any, float | None]:
    """Send one request and record it; returns (status, parsed body, seconds to wait before a retry)."""
    started = time.perf_counter()
    payload: Any = None
    wait = None
    try:
        r = await http.request(method, path, json=body)
        status = str(r.status_code)
        try:
            payload = r.json()
        except ValueError:
            payload = r.text[:300]
        if r.status_code in (429, 503):
            try:
                wait = min(float(r.headers.get("retry-after", "1")), 30.0)
            except ValueError:
                wait = 1.0
    except httpx.TimeoutException:
        status = "timeout"
    except httpx.TransportError as exc:
        status = f"transport:{type(exc).__name__}"
    ms = (time.perf_counter() - started) * 1000
    limit = message = None
    if status == "429":
        limit, message = limit_of(payload)
    elif status.isdigit() and int(status) >= 500:
        message = limit_of(payload)[1]
    phase.samples.append(Sample(route, status, ms, limit, message, with_stages(status, ms, payload)))
    return status, payload, wait


async def agent(t: Target, work: data.Workload, phase: Phase, ledger: Ledger, deadline: float) -> None:
    async with client(t, t.agents) as http:
        await asyncio.sleep(work.rng.random() * 0.5)  # agents do not start in lockstep
        while time.monotonic() < deadline:
            op, method, path, body = work.next()
            while True:
                status, payload, wait = await send(http, phase, ROUTES[op], method, path, body)
                ok = payload if is_ok(status) and isinstance(payload, dict) else None
                if op == "scratchpad":
                    ledger.entry(body, ok)
                elif op == "upsert":
                    ledger.document("agents", body, ok)
                if wait is None or time.monotonic() + wait >= deadline:
                    break
                phase.slept_s += wait
                await asyncio.sleep(wait)  # honour Retry-After, then resend the same request


async def ingest(t: Target, docs: Iterator[str], batch: int, tag: str, phase: Phase, ledger: Ledger,
                 deadline: float, timeout: float) -> None:
    """Bulk ingest into the second namespace until the deadline (the batch in flight is waited for)."""
    n = 0
    async with client(t, t.ingest, timeout) as http:
        while time.monotonic() < deadline:
            items = []
            for _ in range(batch):
                n += 1
                items.append({"source_uri": f"ingest://{tag}/{n}", "title": f"bulk {tag} {n}", "text": next(docs)})
            status, payload, wait = await send(http, phase, ROUTES["ingest"], "POST", "/documents/batch",
                                               {"documents": items})
            results = {r.get("index"): r for r in payload.get("results", [])} \
                if is_ok(status) and isinstance(payload, dict) else {}
            for i, item in enumerate(items):
                ledger.document("ingest", item, results.get(i))
            if wait is not None and time.monotonic() + wait < deadline:
                phase.slept_s += wait
                await asyncio.sleep(wait)


async def run_phase(name: str, t: Target, works: list[data.Workload], seconds: float, ledger: Ledger,
                    ingest_docs: Iterator[str] | None, args: argparse.Namespace) -> Phase:
    phase = Phase(name, len(works), loadavg_start=os.getloadavg())
    started = time.monotonic()
    deadline = started + seconds

    async def agents() -> None:
        await asyncio.gather(*(agent(t, w, phase, ledger, deadline) for w in works))
        phase.seconds = time.monotonic() - started

    async def bulk() -> None:
        if ingest_docs is not None:  # its batch in flight at the deadline may outlast the agents
            await ingest(t, ingest_docs, args.ingest_batch, f"{args.tag}-{name}", phase, ledger, deadline,
                         args.ingest_timeout)
            phase.seconds_by_route[ROUTES["ingest"]] = time.monotonic() - started

    await asyncio.gather(agents(), bulk())
    phase.loadavg_end = os.getloadavg()
    print(f"{name}: {len(phase.samples)} requests in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return phase


def admin_setup(base_url: str, admin_token: str, tag: str) -> tuple[dict[str, str], dict[str, str]]:
    """Two fresh namespaces with a key each: the agents' and the bulk ingester's."""
    from agentmem.api.in_thread import Running, make_tenant

    running = Running(base_url, "", admin_token)
    return make_tenant(running, f"load-{tag}"), make_tenant(running, f"load-{tag}-ingest")


async def setup(t: Target, seeds: list[data.Snippet], ledger: Ledger, qas: list[data.QA]) -> dict[str, Any]:
    """Seed documents in batches of 100, the task; then a few untimed calls to warm the caches."""
    started = time.monotonic()
    async with client(t, t.agents, 600) as http:
        for i in range(0, len(seeds), 100):
            docs = [{"source_uri": s.source_uri, "title": s.title, "text": s.text} for s in seeds[i : i + 100]]
            r = await http.post("/documents/batch", json={"documents": docs})
            r.raise_for_status()
            for d, item in zip(docs, r.json()["results"], strict=True):
                ledger.document("agents", d, item)
        r = await http.post("/tasks", json={
            "goal": "Answer questions about the users' conversations, citing the sessions",
            "constraints": ["cite a session for every fact", "keep notes short"],
            "pinned": [{"label": "style", "text": "Answer in one sentence, then list the sessions cited."}]})
        r.raise_for_status()
        t.task_id = str(r.json()["id"])
        for qa in qas[:5]:
            (await http.post("/search", json={"query": qa.question})).raise_for_status()
            (await http.post("/context/assemble", json={"task_id": t.task_id, "query": qa.question,
                                                       "budget_tokens": 1000})).raise_for_status()
    return {"documents": len(seeds), "task_id": t.task_id, "seconds": round(time.monotonic() - started, 1)}


async def drive(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    loadavg_start = os.getloadavg()
    conversations = load_locomo(args.locomo)
    snippets, qas = data.snippets(conversations), data.questions(conversations)
    seeds, fresh = snippets[: args.documents], snippets[args.documents :]
    long_docs = data.long_documents(data.abstracts(data.nfcorpus_path(args.locomo)), args.ingest_tokens)
    agents_h, ingest_h = admin_setup(args.url, args.admin_token, args.tag)
    t = Target(args.url, agents_h, ingest_h, "", args.timeout)
    ledger = Ledger()
    setup_info = await setup(t, seeds, ledger, qas)
    print(f"setup: {setup_info}", file=sys.stderr, flush=True)

    def works(run: str, n: int) -> list[data.Workload]:
        return [data.Workload(f"{run}c{i}", args.seed, t.task_id, qas, seeds[i::n], fresh, args.tag, args.budget)
                for i in range(n)]

    if args.warmup_seconds > 0:  # caches and plans warm before the baseline, so its p95 is not the cold start
        await run_phase("warm-up", t, works("warm", 1), args.warmup_seconds, ledger, None, args)
    idle = phase_summary(await run_phase("idle", t, works("idle", 1), args.idle_seconds, ledger, None, args))
    runs = []
    for k in range(1, args.runs + 1):
        phase = await run_phase(f"run{k}", t, works(f"run{k}", args.clients), args.seconds, ledger, long_docs, args)
        runs.append(phase_summary(phase))
    back = await readback(t.base_url, {"agents": t.agents, "ingest": t.ingest}, t.task_id, ledger)
    ratios = [{"run": k, **{f"{op}_p95": ratio(r, idle, ROUTES[op]) for op in data.MIX}}
              for k, r in enumerate(runs, 1)]
    assemble = [x["assemble_p95"] for x in ratios]
    return {
        "benchmark": "load",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k not in ("admin_token", "url", "target")} | {"mix": data.MIX},
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "loadavg_start": loadavg_start, "loadavg_end": os.getloadavg(), "target": args.target},
        "setup": setup_info,
        "idle": idle,
        "runs": runs,
        "ratios": ratios,
        "readback": back,
        "checks": {
            "server_errors": sum(r["server_errors"] for r in [idle, *runs]),
            "timeouts": sum(r["timeouts"] for r in [idle, *runs]),
            "transport_errors": sum(r["transport_errors"] for r in [idle, *runs]),
            "rate_limited": sum(r["rate_limited"] for r in [idle, *runs]),
            "writes_missing": back["missing"],
            "writes_mismatched": back["mismatched"],
            "assemble_p95_ratio": assemble,
            "ratio_within_target": all(x is not None and x <= TARGET_RATIO for x in assemble),
        },
        "seconds_total": round(time.monotonic() - started, 1),
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks load", description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=None, help="concurrent agents in the loaded phase (default 50)")
    p.add_argument("--seconds", type=float, default=None, help="length of each loaded run (default 60)")
    p.add_argument("--runs", type=int, default=1, help="loaded runs, each compared with the idle phase (default 1)")
    p.add_argument("--warmup-seconds", type=float, default=10.0,
                   help="one agent before the baseline, not measured (default 10; 0: none)")
    p.add_argument("--idle-seconds", type=float, default=None, help="the one-agent baseline (default 20)")
    p.add_argument("--documents", type=int, default=None, help="short documents seeded (default 400)")
    p.add_argument("--ingest-batch", type=int, default=None, help="documents per ingest batch (default 100)")
    p.add_argument("--ingest-tokens", type=int, default=1000, help="tokens per ingested document (default 1000)")
    p.add_argument("--ingest-timeout", type=float, default=300.0,
                   help="client timeout of one ingest batch (default 300 s: ~100k tokens to embed)")
    p.add_argument("--budget", type=int, default=1000, help="assemble budget_tokens (default 1000)")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout of an agent's request (default 30 s)")
    p.add_argument("--quick", action="store_true", help="smoke test: 8 agents x 10 s, 50 documents, batches of 20")
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--locomo", default=None, help="locomo10.json (default $AGENTMEM_LOCOMO or ../shared/data); "
                                                  "NFCorpus is read from nfcorpus/ beside it")
    p.add_argument("--url", default=None, help="a running service (default: start one in this process)")
    p.add_argument("--admin-token", default=os.environ.get("AGENTMEM_ADMIN_TOKEN"),
                   help="its admin token (default $AGENTMEM_ADMIN_TOKEN)")
    p.add_argument("--workers", type=int, default=None,
                   help="start `agentmem serve --workers N` (a process of its own, embedded PostgreSQL in a temporary"
                        " folder) and drive it, instead of the in-process server")
    p.add_argument("--target", default=None, help=argparse.SUPPRESS)  # what --url is, for the JSON
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    args = p.parse_args(list(argv))
    quick = {"clients": 8, "seconds": 10.0, "idle_seconds": 5.0, "documents": 50, "ingest_batch": 20}
    full = {"clients": 50, "seconds": 60.0, "idle_seconds": 20.0, "documents": 400, "ingest_batch": 100}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.tag = time.strftime("%Y%m%d-%H%M%S") + f"-{random.Random().randrange(16**4):04x}"
    args.target = args.target or args.url
    return args


class ServerErrors(logging.Handler):
    """The app's unhandled errors by route: also those answered to a client that had already given up."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith("unhandled error on") and isinstance(record.args, tuple):
            method, path = (str(a) for a in record.args[:2])
            path = re.sub(r"/[0-9a-f]{8}-[0-9a-f-]{27}", "/{id}", path)
            exc = record.exc_info[1] if record.exc_info else None
            self.counts[f"{method} {path}: {type(exc).__name__}"] += 1


def serve_and_drive(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Start the app here (embedded PostgreSQL) and run this benchmark against it from a child process."""
    from agentmem.api.in_thread import embedded_database, serve
    from agentmem.core.settings import Settings
    from agentmem.embeddings.minilm import load_minilm

    logging.getLogger("agentmem.assemble").setLevel(logging.WARNING)  # one JSON line per call
    errors = ServerErrors()
    logging.getLogger("agentmem.api").addHandler(errors)
    settings = Settings()
    embedder = load_minilm(batch_size=settings.embed_batch_size, threads=settings.embed_threads)
    target = (f"embedded: in-process uvicorn, pool_max_size={settings.pool_max_size},"
              f" embed_batch_size={settings.embed_batch_size}, embed_threads={settings.embed_threads},"
              f" namespace_in_flight={settings.namespace_in_flight},"
              f" embed_slice_seconds={settings.embed_slice_seconds},"
              " job scheduler off")
    out = args.out.resolve()
    with embedded_database() as url, serve(url, embedder, settings) as running:
        here = ["--out", str(out)]  # the child runs in the checkout: pass paths whole
        here += ["--locomo", str(Path(args.locomo).resolve())] if args.locomo else []
        cmd = [sys.executable, "-m", "benchmarks", "load", *argv, *here, "--url", running.base_url,
               "--admin-token", running.admin_token, "--target", target]
        code = subprocess.call(cmd, cwd=REPO)
    if code == 0:
        result = json.loads(out.read_text(encoding="utf-8"))
        result["server_log"] = {"unhandled_errors": sum(errors.counts.values()), "by_route": dict(errors.counts)}
        result["checks"]["server_unhandled_errors"] = sum(errors.counts.values())
        out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"server log: {sum(errors.counts.values())} unhandled errors (500s, seen by a client or not):"
              f" {dict(errors.counts)}")
    return code


def serve_processes_and_drive(argv: Sequence[str], args: argparse.Namespace) -> int:
    """Start `agentmem serve --workers N` as a command (its own processes, embedded PostgreSQL in a
    temporary folder, the AGENTMEM_* environment applies) and run this benchmark against it."""
    import secrets
    import signal
    import socket
    import tempfile

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    token = "load-" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="agentmem-load-") as data_dir:
        log_path = Path(data_dir) / "serve.log"
        env = os.environ | {"AGENTMEM_DATA_DIR": data_dir, "AGENTMEM_ADMIN_TOKEN": token}
        env.pop("DATABASE_URL", None)
        with log_path.open("w") as log:
            server = subprocess.Popen([sys.executable, "-m", "agentmem.cli", "serve", "--port", str(port),
                                       "--workers", str(args.workers)], env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            if not _wait_healthy(base, server, 300):
                print(f"agentmem serve did not start; its log: {log_path.read_text()[-3000:]}", file=sys.stderr)
                return 1
            rest = _without_option(argv, "--workers")
            target = (f"agentmem serve --workers {args.workers} (processes of their own),"
                      f" AGENTMEM_NAMESPACE_IN_FLIGHT={os.environ.get('AGENTMEM_NAMESPACE_IN_FLIGHT', 'default')},"
                      f" AGENTMEM_MAX_IN_FLIGHT={os.environ.get('AGENTMEM_MAX_IN_FLIGHT', 'default')}")
            return main([*rest, "--url", base, "--admin-token", token, "--target", target])
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=120)
            except subprocess.TimeoutExpired:
                server.kill()
            errors = log_path.read_text().count("unhandled error on")
            print(f"server log: {errors} unhandled errors (500s, seen by a client or not)")


def _without_option(argv: Sequence[str], name: str) -> list[str]:
    """`argv` without `name VALUE` / `name=VALUE`."""
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def _wait_healthy(base: str, server: subprocess.Popen, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the table
    args = parse_args(argv)
    if args.url is None and args.workers:
        return serve_processes_and_drive(argv, args)
    if args.url is None:
        return serve_and_drive(argv, args)
    if not args.admin_token:
        print("--url needs --admin-token (or AGENTMEM_ADMIN_TOKEN) to create the two namespaces", file=sys.stderr)
        return 2
    result = asyncio.run(drive(args))
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
