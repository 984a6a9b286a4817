"""Data for the read-path benchmarks at scale: a realistic corpus cut to exact sizes, cached embeddings, COPY loads.

The corpus is benchmarks/corpus.py's (LoCoMo sessions, Python docstrings) plus LoCoMo recombined the
way an agent's memory holds a conversation: single turns, windows of consecutive turns at several
sizes and offsets (each headed by the session's speakers and date), per-session observations and
summaries. Documents are shuffled with a fixed seed and dealt into namespaces of exact chunk counts.
Each document gets `metadata.bucket` = crc32(source_uri) % 10, so {"bucket": 0} keeps about 10%.
Embeddings are real (the service's embedder) and cached on disk under /tmp by a hash of model and
texts, so only the first run pays for them. Rows go in with COPY, as memory/documents.py writes them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import random
import re
import sys
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb

from agentmem.core.tokens import count_many
from benchmarks.corpus import Doc, iter_documents, load_locomo, locomo_path, session_numbers, turn_text
from agentmem.embeddings.models import Model, input_hash
from agentmem.memory.chunking import chunk_text
from agentmem.memory.hashing import content_hash

CACHE = Path("/tmp/agentmem-scale-cache")
PLAN_VERSION = "scale-plan-2"  # change when the way the corpus is cut changes
SEED = 20250601
WINDOWS = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1))  # (turns, offset)
# Documents are cut into chunks of up to 64 tokens (mean ~56): the first run embeds 110k chunks on
# the CPU, and MiniLM's cost grows with length. The service's default is 128 (docs/chunking.md).
CHUNK_TOKENS = 64
EMBED_PIECE = 4096  # texts per cached file: a rerun after a crash loses at most one piece


@dataclass(frozen=True)
class PlannedDoc:
    source_uri: str
    title: str
    text: str
    chunks: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """Namespace name suffix -> its documents, in load order; chunk counts are exact."""

    namespaces: dict[str, list[PlannedDoc]]
    key: str  # hash of every text: names the namespaces and the embedding cache

    def texts(self) -> list[str]:
        return [c for docs in self.namespaces.values() for d in docs for c in d.chunks]

    def chunk_count(self, name: str) -> int:
        return sum(len(d.chunks) for d in self.namespaces[name])


def _bucket(uri: str) -> int:
    return zlib.crc32(uri.encode()) % 10


def _session_parts(conv: dict[str, Any], n: int) -> tuple[str, list[str]]:
    c = conv
    when = str(c.get(f"session_{n}_date_time", ""))
    head = f"{c['speaker_a']} and {c['speaker_b']}, session {n}" + (f" ({when})" if when else "")
    return head, [turn_text(t) for t in c[f"session_{n}"]]


def locomo_recombined(data: list[dict[str, Any]]) -> Iterator[Doc | PlannedDoc]:
    """Turn windows at several sizes and offsets, observations and summaries: one document per session and kind."""
    for sample in data:
        sid, conv = str(sample["sample_id"]), sample["conversation"]
        for n in session_numbers(conv):
            head, lines = _session_parts(conv, n)
            text = head + "\n" + "\n".join(lines) + "\n"
            for size, offset in WINDOWS:
                # With an offset, the session's first `offset` turns make a short first window.
                cuts = [0, *range(offset or size, len(lines), size), len(lines)]
                windows = [lines[a:b] for a, b in zip(cuts, cuts[1:])]
                chunks = tuple(head + ":\n" + "\n".join(w) for w in windows if w)
                yield PlannedDoc(f"locomo://{sid}/session_{n}/turns-{size}-{offset}", f"{sid} session {n}", text, chunks)
            when = str(conv.get(f"session_{n}_date_time", ""))
            observed = (sample.get("observation") or {}).get(f"session_{n}_observation") or {}
            facts = tuple(f"{when}: {fact[0]}" if when else str(fact[0])
                          for items in observed.values() for fact in items if fact and fact[0])
            if facts:
                yield PlannedDoc(f"locomo://{sid}/session_{n}/observations", f"{sid} session {n} observations",
                                 "\n".join(facts) + "\n", facts)
            summary = (sample.get("session_summary") or {}).get(f"session_{n}_summary")
            if summary:
                yield Doc(f"locomo://{sid}/session_{n}/summary", f"{sid} session {n} summary", str(summary))


def _inputs_key(sizes: dict[str, int], chunk_tokens: int, locomo: str | None) -> str:
    """What the plan depends on: the sizes, the code's version, the interpreter, the packages, the data file."""
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()})
    lp = locomo_path(locomo)
    parts = [PLAN_VERSION, json.dumps(sizes, sort_keys=True), str(chunk_tokens), sys.version, *dists,
             hashlib.sha256(lp.read_bytes()).hexdigest()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def build_plan(sizes: dict[str, int], chunk_tokens: int, locomo: str | None = None, log: Any = sys.stderr) -> Plan:
    """Documents dealt into namespaces of exactly the asked chunk counts (the last document of each may be cut)."""
    key = _inputs_key(sizes, chunk_tokens, locomo)
    cached = CACHE / f"plan-{key}.json"
    if cached.is_file():
        raw = json.loads(cached.read_text(encoding="utf-8"))
        return Plan({k: [PlannedDoc(d["source_uri"], d["title"], d["text"], tuple(d["chunks"]), d["metadata"])
                         for d in v] for k, v in raw["namespaces"].items()}, raw["key"])
    started = time.perf_counter()
    data = load_locomo(locomo)
    sources: list[Doc | PlannedDoc] = [*iter_documents(locomo), *locomo_recombined(data)]
    random.Random(SEED).shuffle(sources)
    print(f"corpus: {len(sources):,} documents read in {time.perf_counter() - started:.0f} s", file=log, flush=True)
    it = iter(sources)
    namespaces: dict[str, list[PlannedDoc]] = {}
    for name, want in sizes.items():
        docs: list[PlannedDoc] = []
        have = 0
        while have < want:
            src = next(it, None)
            if src is None:
                raise ValueError(f"the corpus ran out at {have:,} chunks for namespace {name!r} (asked {want:,})")
            chunks = src.chunks if isinstance(src, PlannedDoc) else tuple(c.text for c in chunk_text(src.text, chunk_tokens))
            chunks = tuple(c for c in chunks if c.strip())[: want - have]
            if not chunks:
                continue
            scheme = src.source_uri.split(":", 1)[0]
            meta = {"source": scheme, "bucket": _bucket(src.source_uri)}
            docs.append(PlannedDoc(src.source_uri, src.title, src.text, chunks, meta))
            have += len(chunks)
        namespaces[name] = docs
    texts_key = hashlib.sha256("\0".join(c for ds in namespaces.values() for d in ds for c in d.chunks).encode())
    plan = Plan(namespaces, texts_key.hexdigest()[:16])
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": plan.key, "namespaces": {
        k: [{"source_uri": d.source_uri, "title": d.title, "text": d.text, "chunks": list(d.chunks),
             "metadata": d.metadata} for d in v] for k, v in namespaces.items()}}), encoding="utf-8")
    tmp.replace(cached)
    print(f"corpus: plan {plan.key} built in {time.perf_counter() - started:.0f} s", file=log, flush=True)
    return plan


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _cached_vectors(model_tag: str) -> dict[str, tuple[Path, int]]:
    """Every text embedded by an earlier run with this model: its key -> (file, row)."""
    found: dict[str, tuple[Path, int]] = {}
    for keys in sorted(CACHE.glob("emb-*.keys")):
        lines = keys.read_text(encoding="ascii").split()
        if lines and lines[0] == model_tag:
            found.update({k: (keys.with_suffix(".npy"), i) for i, k in enumerate(lines[1:])})
    return found


def cached_embeddings(texts: Sequence[str], embedder: Any, log: Any = sys.stderr) -> tuple[np.ndarray, float]:
    """Vectors for `texts`, reusing every text any earlier run embedded with the same model (files under /tmp,
    each with a .keys list of text hashes); returns (vectors, seconds spent embedding the missing ones)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    model_tag = hashlib.sha256(f"{embedder.name}\0{embedder.version}".encode()).hexdigest()[:16]
    known = _cached_vectors(model_tag)
    missing = list(dict.fromkeys(t for t in texts if _text_key(t) not in known))
    spent = 0.0
    for i in range(0, len(missing), EMBED_PIECE):
        piece = missing[i : i + EMBED_PIECE]
        h = hashlib.sha256(f"{embedder.name}\0{embedder.version}\0".encode() + "\0".join(piece).encode())
        path = CACHE / f"emb-{h.hexdigest()[:32]}.npy"
        started = time.perf_counter()
        vectors = embedder.embed(list(piece))
        spent += time.perf_counter() - started
        np.save(path.with_suffix(".tmp.npy"), vectors)
        path.with_suffix(".tmp.npy").replace(path)
        keys = [_text_key(t) for t in piece]
        path.with_suffix(".keys").write_text("\n".join([model_tag, *keys]) + "\n", encoding="ascii")
        known.update({k: (path, j) for j, k in enumerate(keys)})
        print(f"embedded {i + len(piece):,}/{len(missing):,} missing of {len(texts):,}"
              f" ({len(piece) / (time.perf_counter() - started):.0f} chunks/s)", file=log, flush=True)
    out = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    files: dict[Path, np.ndarray] = {}
    for i, t in enumerate(texts):
        path, row = known[_text_key(t)]
        if path not in files:
            files[path] = np.load(path, mmap_mode="r")
        out[i] = files[path][row]
    return out, spent


# Indexes that a bulk load into an empty table builds once afterwards instead of row by row: the
# per-model HNSW indexes (embeddings.models.ensure_index) and the keyword GIN index if there is one.
_BULK_INDEXES = "indexname LIKE 'chunks_embedding_hnsw%%' OR indexname = 'chunks_tsv'"


def load_namespace(
    conn: psycopg.Connection[Any], namespace_id: int, docs: Iterable[PlannedDoc], vectors: np.ndarray, model: Model,
    batch_chunks: int = 5000, log: Any = sys.stderr,
) -> int:
    """COPY documents, their version records and chunks, one transaction per ~batch_chunks chunks."""
    register_vector(conn)  # before the cursors, so COPY knows the vector type
    docs = list(docs)
    offset = 0
    i = 0
    while i < len(docs):
        batch: list[PlannedDoc] = []
        n = 0
        while i < len(docs) and (not batch or n + len(docs[i].chunks) <= batch_chunks):
            batch.append(docs[i])
            n += len(docs[i].chunks)
            i += 1
        ids = [uuid.uuid4() for _ in batch]
        tokens = count_many([d.text for d in batch])
        chunk_tokens = count_many([c for d in batch for c in d.chunks])
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy("COPY documents (id, namespace_id, source_uri, kind, title, metadata, text, content_hash,"
                          " tokens) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int8", "text", "text", "text", "jsonb", "text", "text", "int4"])
                for doc_id, d, t in zip(ids, batch, tokens, strict=True):
                    copy.write_row((doc_id, namespace_id, d.source_uri, "document", d.title, Jsonb(d.metadata),
                                    d.text, content_hash(d.text), t))
            with cur.copy("COPY document_versions (document_id, version, content_hash, tokens, chunks)"
                          " FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["uuid", "int4", "text", "int4", "int4"])
                for doc_id, d, t in zip(ids, batch, tokens, strict=True):
                    copy.write_row((doc_id, 1, content_hash(d.text), t, len(d.chunks)))
            with cur.copy("COPY chunks (namespace_id, document_id, kind, ord, text, tokens, embedding,"
                          " embedding_model_id, embedded_hash) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "uuid", "text", "int4", "text", "int4", "vector", "int4", "bytea"])
                k = 0
                for doc_id, d in zip(ids, batch, strict=True):
                    for ord_, text in enumerate(d.chunks):
                        copy.write_row((namespace_id, doc_id, "document", ord_, text, chunk_tokens[k],
                                        vectors[offset + k], model.id, input_hash(text)))
                        k += 1
        offset += n
        print(f"  loaded {offset:,} chunks", file=log, flush=True)
    return offset


def bulk_load(url: str, plan: Plan, vectors: np.ndarray, ns_ids: dict[str, int], model: Model,
              log: Any = sys.stderr) -> dict[str, float]:
    """Load every namespace of the plan; into an empty chunks table, build the HNSW and GIN indexes after."""
    seconds: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM chunks)").fetchone()[0]  # type: ignore[index]
        defs: list[str] = []
        if empty:
            found = conn.execute(
                f"SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' AND ({_BULK_INDEXES})").fetchall()
            defs = [r[1] for r in found]
            for name, _ in found:
                conn.execute(f'DROP INDEX IF EXISTS "{name}"')
        started = time.perf_counter()
        offset = 0
        for name, docs in plan.namespaces.items():
            n = plan.chunk_count(name)
            load_namespace(conn, ns_ids[name], docs, vectors[offset : offset + n], model, log=log)
            offset += n
        seconds["copy_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        for d in defs:
            t = time.perf_counter()
            conn.execute(d)
            seconds[f"index_{d.split()[2]}_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        seconds["vacuum_analyze_s"] = round(time.perf_counter() - t, 1)
    return seconds


_VERB = re.compile(r"^([A-Z][a-z]+)\b(.*)$")


def third_person(verb: str) -> str:
    v = verb.lower()
    if v.endswith("s") and not v.endswith("ss"):
        return v  # already "Returns"
    if v.endswith(("ss", "sh", "ch", "x", "o")):
        return v + "es"
    if v.endswith("y") and len(v) > 1 and v[-2] not in "aeiou":
        return v[:-1] + "ies"
    return v + "s"


_SIG = re.compile(r"(?m)^([A-Za-z_][\w.]*)\(.*\)\n\n([^\n]+)")
_IMPERATIVE = frozenset(
    "return returns create creates compute computes get gets convert converts check checks load loads save saves "
    "apply applies set sets find finds remove removes add adds build builds generate generates parse parses "
    "read reads write writes initialize initializes construct constructs make makes update updates register "
    "registers compare compares split splits format formats copy copies run runs call calls open opens close "
    "closes resolve resolves validate validates determine determines decode decodes encode encodes".split())


def docstring_question(chunk: str) -> str | None:
    """'name(args)\\n\\nReturn the x of y.' -> 'Which function returns the x of y?' (None if it does not fit)."""
    m = _SIG.search(chunk)
    if not m:
        return None
    first = re.split(r"(?<=[.!?])\s", m.group(2).strip())[0].rstrip(".:")
    vm = _VERB.match(first)
    if not vm or vm.group(1).lower() not in _IMPERATIVE:
        return None
    rest = vm.group(2).strip()
    words = rest.split()
    if not 3 <= len(words) <= 20 or any(ch in rest for ch in "`<>{}[]=|*\\"):
        return None
    return f"Which function {third_person(vm.group(1))} {rest}?"


def pick_evenly(items: Sequence[Any], n: int) -> list[Any]:
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def locomo_questions(data: list[dict[str, Any]]) -> list[str]:
    """Questions of categories 1-4 (5 is adversarial), in file order."""
    return [str(qa["question"]) for conv in data for qa in conv["qa"] if qa.get("category") in (1, 2, 3, 4)]


def queries(plan: Plan, name: str, locomo: str | None, n: int) -> list[tuple[str, str]]:
    """n realistic queries, half LoCoMo questions and half questions made from docstrings stored in `name`,
    alternating: (source, query)."""
    asked = pick_evenly(locomo_questions(load_locomo(locomo)), n - n // 2)
    made = [q for d in plan.namespaces[name] for c in d.chunks if (q := docstring_question(c))]
    made = pick_evenly(sorted(set(made), key=made.index), n // 2)
    out: list[tuple[str, str]] = []
    for i in range(max(len(asked), len(made))):
        if i < len(asked):
            out.append(("locomo", asked[i]))
        if i < len(made):
            out.append(("docstring", made[i]))
    return out
