"""The embedding model as a shared, fair resource: worker threads per model in front of it.

A model does one forward pass at a time, so who goes next is a scheduling decision. With one copy
of the model, each round the worker:

1. takes every waiting query (short, latency-bound: a search's query text) and embeds them
   together, `query_batch` texts per forward pass;
2. then embeds one slice of bulk work (document chunks, scratchpad entries, re-embedding batches),
   taken from the namespaces with bulk work in turn (round-robin), so one tenant's 30,000-chunk
   upload does not hold up another's 50-chunk upsert; within a namespace its requests take turns
   too, so an agent's one-text note does not wait for its own namespace's upload to finish. A slice
   is at most `slice_texts` texts, and fewer when the model's recent bulk speed says they would take
   over `slice_seconds` (long chunks, a busy CPU): the slice bounds how long a query waits, in time
   rather than in texts.

A query therefore waits for at most the slice in progress, and a namespace's bulk work for at most
one slice of every other namespace with work (and the queries in between).

Given a second copy of the model for queries (`query_embed`; the service loads one for MiniLM,
`Settings.embed_query_worker`), queries get their own worker thread and never wait for a bulk slice:
under load a slice is 0.25 s, and 50 agents' queries spent most of their embed stage behind one
(docs/ingest.md). Bulk work keeps the other worker, sliced and round-robin as above, on a thread
`bulk_nice` steps nicer, so that under load the cores go to requests first.

Given a third copy (`small_embed`; `Settings.embed_small_writes`, off by default), a write of at most
`small_texts` texts (an agent's scratchpad entry, a one-chunk note) is embedded by a worker of its
own, at normal priority, in passes of small writes only: it no longer waits for another namespace's
bulk slice, and a query never pads to a note's length. Under load that halves a write's latency and
costs queries CPU: a trade an operator chooses (docs/ingest.md).

Callers block on their request; a request that makes no progress for `timeout_seconds`, or that
arrives while `max_pending` texts of its kind already wait, gets `Overloaded` (503 with Retry-After).
Progress on the work ahead of a request in its namespace's lane counts as its own: a long queue of
one's own work is not a stuck model.

A worker is started by the first request it has work for and exits after `idle_exit_seconds` without work.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable, Hashable, Sequence

import numpy as np

from agentmem.core.errors import ModelUnavailable, Overloaded
from agentmem.core.settings import Settings
from agentmem.embeddings import queue_metrics
from agentmem.embeddings.base import Embedder

EmbedFn = Callable[[Sequence[str]], np.ndarray]
QUERY, BULK, SMALL = "query", "bulk", "small"
BOTH = "both"  # the one worker's role when queries have no model copy of their own
RECENT_WAITS = 256  # wait times kept per kind for stats()


@dataclass(frozen=True)
class SchedulerPolicy:
    slice_texts: int = 32  # most bulk texts per forward pass
    slice_seconds: float | None = 0.25  # fewer when they would take longer (None: always slice_texts)
    query_batch: int = 64  # queries embedded together in one forward pass
    max_pending: int = 100_000  # texts of one kind waiting; above it new requests are refused
    timeout_seconds: float = 30.0  # longest a caller waits without it (or the work ahead in its lane) progressing
    idle_exit_seconds: float = 30.0  # the worker thread exits after this long without work
    query_worker: bool = True  # queries on a copy of the model of their own, when the model can make one
    bulk_nice: int = 10  # the bulk worker's niceness above the process's, when queries have their own (0: same)
    small_texts: int = 0  # a write of at most this many texts goes to a third copy of its own (0: no third copy)

    def __post_init__(self) -> None:
        if min(self.slice_texts, self.query_batch, self.max_pending) < 1 or self.small_texts < 0 or self.timeout_seconds <= 0 or (
                self.slice_seconds is not None and self.slice_seconds <= 0):
            raise ValueError(f"embedding scheduler sizes must be >= 1 and its times > 0: {self}")

    @classmethod
    def from_settings(cls, settings: Settings) -> SchedulerPolicy:
        return cls(slice_texts=settings.embed_slice_texts, slice_seconds=settings.embed_slice_seconds or None,
                   max_pending=settings.embed_queue_max_texts, timeout_seconds=settings.embed_timeout_seconds,
                   query_worker=settings.embed_query_worker, bulk_nice=settings.embed_bulk_nice,
                   small_texts=settings.embed_small_writes)


@dataclass(frozen=True)
class QueueStats:
    """What the scheduler of one model holds and how long requests waited (for metrics)."""

    model: str
    depth: dict[str, int]  # texts waiting, by kind (query, bulk, small)
    namespaces: int  # namespaces with bulk work waiting
    waits: dict[str, tuple[float, ...]]  # recent waits before the first forward pass, seconds, by kind

    def wait_quantile(self, kind: str, q: float) -> float | None:
        waits = sorted(self.waits.get(kind, ()))
        return waits[min(len(waits) - 1, int(q * len(waits)))] if waits else None


@dataclass(eq=False)
class _Request:
    texts: list[str]  # bulk: shortest first, so a slice's texts pad to similar lengths
    kind: str
    lane: Hashable
    enqueued: float
    progressed: float  # when a forward pass last finished part of it (or it was enqueued)
    positions: list[int] | None = None  # where each of `texts` was in the caller's list (bulk)
    taken: int = 0  # texts handed to the model so far
    done: int = 0  # texts embedded so far
    out: np.ndarray | None = None
    error: BaseException | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def failed(self, error: BaseException) -> bool:
        """Finish it with `error`, unless it is already finished (then False)."""
        if self.error is not None or self.finished.is_set():
            return False
        self.error = error
        self.finished.set()
        return True


_Part = tuple[_Request, int, int]  # a request and the [start, end) of its texts in one forward pass


class EmbedScheduler:
    """Queries first, then bulk work in slices, round-robin across namespaces; one forward pass at a time
    per copy of the model (with a copy for queries, a query pass may run beside a bulk one)."""

    def __init__(self, embed: EmbedFn, model: str, dimension: int | None = None,
                 policy: SchedulerPolicy | None = None, clock: Callable[[], float] = time.monotonic,
                 query_embed: EmbedFn | None = None, small_embed: EmbedFn | None = None) -> None:
        """`query_embed`: a second copy of the model, for queries only, run by a worker of its own;
        `small_embed`: a third, for writes of at most `policy.small_texts` texts."""
        self._embed = embed
        self._query_embed = query_embed
        self._small_embed = small_embed
        self._clock = clock
        self.model = model
        self.dimension = dimension
        self.policy = policy or SchedulerPolicy()
        self._cond = threading.Condition()
        self._queries: deque[_Request] = deque()
        self._small: deque[_Request] = deque()  # small writes, with a copy for them
        self._lanes: OrderedDict[Hashable, deque[_Request]] = OrderedDict()  # bulk work by namespace
        self._pending = {QUERY: 0, BULK: 0, SMALL: 0}  # texts not yet handed to the model
        self._waits = {kind: deque(maxlen=RECENT_WAITS) for kind in (QUERY, BULK, SMALL)}
        self._rates = {QUERY: 0.0, BULK: 0.0, SMALL: 0.0}  # texts per second of recent forward passes, by kind
        self._bulk_chars_per_s = 0.0  # the same for bulk work in characters: sizes the slices
        self._threads: dict[str, threading.Thread] = {}  # the live workers, by role
        self._stopping = False

    def submit(self, texts: Sequence[str], namespace: Hashable = None, *, query: bool = False) -> np.ndarray:
        """Embed `texts` when their turn comes; blocks until done. `namespace`: whose bulk work it is."""
        if not texts:
            return np.zeros((0, self.dimension or 0), dtype=np.float32)
        small = self._small_embed is not None and len(texts) <= self.policy.small_texts
        kind = QUERY if query else SMALL if small else BULK
        now = self._clock()
        request = _Request(list(texts), kind, namespace, now, now)
        if kind == BULK and len(texts) > 1:
            request.positions = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            request.texts = [texts[i] for i in request.positions]
        with self._cond:
            if self._pending[kind] >= self.policy.max_pending:
                raise Overloaded(
                    f"the embedding model {self.model} has {self._pending[kind]:,} {kind} texts waiting; "
                    "retry later", retry_after=self._retry_after(kind), limit="embed_queue_max_texts",
                    value=self.policy.max_pending, reason="embed_queue_full")
            if query:
                self._queries.append(request)
            elif kind == SMALL:
                self._small.append(request)
            else:
                self._lanes.setdefault(namespace, deque()).append(request)
            self._pending[kind] += len(request.texts)
            self._publish_depth(kind)
            self._ensure_worker(kind)
            self._cond.notify_all()
        return self._wait(request)

    def stats(self) -> QueueStats:
        with self._cond:
            return QueueStats(self.model, dict(self._pending), len(self._lanes),
                              {k: tuple(v) for k, v in self._waits.items()})

    def close(self) -> None:
        """Stop the worker and fail what waits; a later request starts a new worker."""
        with self._cond:
            self._stopping = True
            threads = list(self._threads.values())
            self._cond.notify_all()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        with self._cond:
            self._stopping = False
            waiting = list(self._queries) + list(self._small) + [r for lane in self._lanes.values() for r in lane]
            self._queries.clear()
            self._small.clear()
            self._lanes.clear()
            for kind in self._pending:
                self._pending[kind] = 0
                self._publish_depth(kind)
        for r in waiting:
            r.failed(ModelUnavailable(f"the embedding model {self.model} is shutting down; retry"))

    # The caller's side.

    def _wait(self, request: _Request) -> np.ndarray:
        timeout = self.policy.timeout_seconds
        while not request.finished.wait(max(0.0, request.progressed + timeout - self._clock())):
            with self._cond:
                if self._clock() - request.progressed < timeout:
                    continue
                error = Overloaded(
                    f"the embedding model {self.model} made no progress on this request (nor on the work ahead "
                    f"of it) for {timeout:g} s (embed_timeout_seconds); "
                    "retry later", retry_after=self._retry_after(request.kind), limit="embed_timeout_seconds",
                    value=timeout, reason="embed_no_progress")
                if self._cancel(request, error):
                    raise error
        if request.error is not None:
            raise request.error
        assert request.out is not None
        return request.out

    def _cancel(self, request: _Request, error: BaseException) -> bool:
        """Drop what is left of a request (under the lock); False if it had finished meanwhile."""
        self._pending[request.kind] -= len(request.texts) - request.taken
        request.taken = len(request.texts)
        if request.kind in (QUERY, SMALL):
            waiting = self._queries if request.kind == QUERY else self._small
            if request in waiting:
                waiting.remove(request)
        else:
            lane = self._lanes.get(request.lane)
            if lane is not None and request in lane:
                lane.remove(request)
                if not lane:
                    del self._lanes[request.lane]
        self._publish_depth(request.kind)
        return request.failed(error)

    def _retry_after(self, kind: str) -> float:
        rate = self._rates[kind]
        return 1.0 if rate <= 0 else float(min(60, max(1, round(self._pending[kind] / rate))))

    # The worker's side.

    def _role(self, kind: str) -> str:
        return kind if self._query_embed is not None or kind == SMALL else BOTH

    def _ensure_worker(self, kind: str) -> None:
        role = self._role(kind)
        thread = self._threads.get(role)
        if thread is None or not thread.is_alive():
            thread = self._threads[role] = threading.Thread(
                target=self._work, args=(role,), name=f"embed-{self.model}-{role}", daemon=True)
            thread.start()

    def _work(self, role: str) -> None:
        if role == BULK:
            _lower_priority(self.policy.bulk_nice)

        while True:
            with self._cond:
                if not self._has_work(role) and not self._stopping:
                    self._cond.wait(self.policy.idle_exit_seconds)
                if self._stopping or not self._has_work(role):
                    if self._threads.get(role) is threading.current_thread():
                        del self._threads[role]
                    return
                if role == SMALL:
                    kind, batches, bulk = SMALL, self._take_whole(SMALL, self._small, self.policy.slice_texts), []
                else:
                    kind, batches = QUERY, self._take_queries() if role != BULK else []
                    bulk = self._take_slice() if role != QUERY else []
            for batch in batches:
                self._run(kind, batch)
            if bulk:
                self._run(BULK, bulk)

    def _has_work(self, role: str) -> bool:
        if role == SMALL:
            return bool(self._small)
        return bool((role != BULK and self._queries) or (role != QUERY and self._lanes))

    def _take_queries(self) -> list[list[_Part]]:
        """Every waiting query, in batches of up to query_batch texts (a request is never split)."""
        return self._take_whole(QUERY, self._queries, self.policy.query_batch)

    def _take_whole(self, kind: str, waiting: deque[_Request], batch_texts: int) -> list[list[_Part]]:
        """Every request of `waiting`, whole, in batches of up to `batch_texts` texts (at least one request)."""
        batches: list[list[_Part]] = []
        texts = 0
        while waiting:
            r = waiting.popleft()
            if not batches or texts + len(r.texts) > batch_texts:
                batches.append([])
                texts = 0
            batches[-1].append((r, 0, len(r.texts)))
            texts += len(r.texts)
            r.taken = len(r.texts)
        self._taken(kind, [part for batch in batches for part in batch])
        return batches

    def _take_slice(self) -> list[_Part]:
        """The next texts of the namespace whose turn it is (several of its requests if small): at most
        slice_texts, and no more characters than the model embeds in slice_seconds (at least one text).
        A request left unfinished goes to the back of its namespace's lane: the next turn starts with
        the request behind it."""
        if not self._lanes:
            return []
        namespace, lane = next(iter(self._lanes.items()))
        parts: list[_Part] = []
        room, budget = self.policy.slice_texts, self._slice_chars()
        while lane and room:
            r = lane[0]
            end = r.taken
            while end < len(r.texts) and room and (budget >= len(r.texts[end]) or room == self.policy.slice_texts):
                budget -= len(r.texts[end])
                room -= 1
                end += 1
            if end == r.taken:
                break
            parts.append((r, r.taken, end))
            r.taken = end
            if end == len(r.texts):
                lane.popleft()
        if parts and lane and lane[0] is parts[-1][0]:
            lane.rotate(-1)
        if lane:
            self._lanes.move_to_end(namespace)  # its turn is over: every other namespace goes first
        else:
            del self._lanes[namespace]
        self._taken(BULK, parts)
        return parts

    def _slice_chars(self) -> float:
        if self.policy.slice_seconds is None:
            return math.inf
        return self._bulk_chars_per_s * self.policy.slice_seconds  # 0 while unknown: one text measures it

    def _taken(self, kind: str, parts: list[_Part]) -> None:
        now = self._clock()
        for r, start, end in parts:
            self._pending[kind] -= end - start
            if start == 0:
                self._waits[kind].append(now - r.enqueued)
                queue_metrics.observe_wait(self.model, kind, now - r.enqueued)
        if parts:
            self._publish_depth(kind)

    def _publish_depth(self, kind: str) -> None:
        queue_metrics.set_depth(self.model, kind, self._pending[kind])

    def _run(self, kind: str, parts: list[_Part]) -> None:
        """One forward pass over the parts; a failure is retried part by part, so it fails only its own request."""
        texts = [t for r, start, end in parts for t in r.texts[start:end]]
        embed = {QUERY: self._query_embed, SMALL: self._small_embed}.get(kind) or self._embed
        started = self._clock()
        try:
            vectors = self._checked(embed(texts), len(texts))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
            if len(parts) > 1:
                for part in parts:
                    self._run(kind, [part])
            else:
                with self._cond:
                    self._cancel(parts[0][0], exc)  # the rest of it is not embedded in vain
            return
        finished = self._clock()
        if finished > started:
            seconds = finished - started
            self._rates[kind] = _average(self._rates[kind], len(texts) / seconds)
            if kind == BULK:
                self._bulk_chars_per_s = _average(self._bulk_chars_per_s, sum(map(len, texts)) / seconds)
        offset = 0
        for r, start, end in parts:
            if r.out is None:
                r.out = np.empty((len(r.texts), vectors.shape[1]), dtype=np.float32)
            rows = slice(start, end) if r.positions is None else r.positions[start:end]
            r.out[rows] = vectors[offset:offset + end - start]
            offset += end - start
            r.done += end - start
            r.progressed = finished
            if r.done == len(r.texts) and r.error is None:
                r.finished.set()
        if kind == BULK:
            with self._cond:  # the work queued behind it in its namespace moved up too
                for lane in {r.lane for r, _, _ in parts}:
                    for waiting in self._lanes.get(lane, ()):
                        waiting.progressed = finished

    def _checked(self, vectors: np.ndarray, n: int) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        dimension_ok = self.dimension is None or vectors.shape[-1] == self.dimension
        if vectors.ndim != 2 or len(vectors) != n or not dimension_ok:
            raise RuntimeError(f"model {self.model} returned vectors of shape {vectors.shape} for {n} texts; "
                               f"expected ({n}, {self.dimension})")
        return vectors


def _lower_priority(nice: int) -> None:
    """Make the calling thread `nice` steps nicer (Linux: niceness is per thread). Bulk embedding then
    takes the CPU only when requests leave it: a busy machine's cores go to queries, SQL and packing
    first, and an idle machine's to the bulk work all the same. Elsewhere, or if refused: unchanged."""
    if nice <= 0 or not sys.platform.startswith("linux"):  # elsewhere a thread id is not a process id
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError:
        pass


def _average(before: float, now: float) -> float:
    """Recent speed: an exponential moving average, so a slow or fast pass moves it but does not set it."""
    return now if before == 0 else 0.7 * before + 0.3 * now


class ScheduledEmbedder:
    """A loaded model behind its own scheduler: what Embedders.get returns, shared by every caller.

    A model that can load a second copy of itself (`copy_for_queries`, MiniLM) gets one for queries
    when the policy asks for a query worker, and then a third for small writes (`copy_for_small_writes`)
    unless `small_texts` is 0; a cheap model (the static one) needs none."""

    def __init__(self, model: Embedder, policy: SchedulerPolicy | None = None) -> None:
        self.model = model
        self.name, self.version, self.dimension = model.name, model.version, model.dimension
        policy = policy or SchedulerPolicy()
        copy = getattr(model, "copy_for_queries", None)
        self.query_model: Embedder | None = copy() if policy.query_worker and callable(copy) else None
        copy = getattr(model, "copy_for_small_writes", None)
        self.small_model: Embedder | None = (
            copy() if self.query_model is not None and policy.small_texts > 0 and callable(copy) else None)
        self.scheduler = EmbedScheduler(model.embed, model.name, model.dimension, policy,
                                        query_embed=self.query_model.embed if self.query_model else None,
                                        small_embed=self.small_model.embed if self.small_model else None)

    def embed(self, texts: Sequence[str], namespace: Hashable = None, *, query: bool = False) -> np.ndarray:
        """Bulk work of `namespace` (fair share among namespaces), or with `query`, ahead of all bulk work."""
        return self.scheduler.submit(texts, namespace, query=query)
