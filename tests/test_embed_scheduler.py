"""The embedding scheduler (embeddings/scheduler.py): queries ahead of bulk work, namespaces in turn.

The model is a plain function that records each forward pass and can hold the first one, so each
test puts the queue in a known state and asserts on the order of the passes, never on wall time.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agentmem.core.errors import Overloaded, Refused
from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from agentmem.embeddings.registry import Embedders, ModelSpec
from agentmem.embeddings.scheduler import EmbedScheduler, ScheduledEmbedder, SchedulerPolicy
from conftest import ADMIN_TOKEN, make_tenant
from hash_embedder import HashEmbedder

WAIT = 10.0  # only for a test that is failing (a hang): never reached when the scheduler works


class HeldModel:
    """A model whose first forward pass waits for `release`; each pass's texts are recorded."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        assert self.release.wait(WAIT)
        if self.fail_on is not None and any(self.fail_on in t for t in texts):
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def until(condition: Callable[[], bool]) -> None:
    """Wait for another thread to reach a state (a queue depth); fails the test if it never does."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the scheduler never reached the expected state"
        time.sleep(0.001)


def scheduler(model: HeldModel, **policy: Any) -> EmbedScheduler:
    """Slices of 4 texts whatever the model's speed (test_slices_shrink... covers the time bound)."""
    return EmbedScheduler(model, "fake", 2, SchedulerPolicy(**{"slice_texts": 4, "slice_seconds": None, **policy}))


def lengths(texts: Sequence[str]) -> list[float]:
    return [float(len(t)) for t in texts]


def test_a_query_waits_for_at_most_the_slice_in_progress() -> None:
    model, texts = HeldModel(), [f"chunk {i}" for i in range(40)]
    s = scheduler(model)
    with ThreadPoolExecutor(2) as pool:
        bulk = pool.submit(s.submit, texts, "tenant-a")
        assert model.entered.wait(WAIT)  # the first slice is in the model, nine more wait
        query = pool.submit(s.submit, ["the query"], query=True)
        until(lambda: s.stats().depth["query"] == 1)
        model.release.set()
        assert query.result(WAIT)[:, 0].tolist() == lengths(["the query"])
        assert bulk.result(WAIT)[:, 0].tolist() == lengths(texts)  # slices put back together in order
    assert model.calls[0] == texts[:4] and model.calls[1] == ["the query"]
    assert [t for call in model.calls[2:] for t in call] == texts[4:] and all(len(c) == 4 for c in model.calls[2:])


def test_with_a_copy_for_queries_a_query_does_not_wait_for_the_slice_in_progress() -> None:
    bulk_model, query_model, texts = HeldModel(), HeldModel(), [f"chunk {i}" for i in range(8)]
    query_model.release.set()
    s = EmbedScheduler(bulk_model, "fake", 2, SchedulerPolicy(slice_texts=4, slice_seconds=None),
                       query_embed=query_model)
    with ThreadPoolExecutor(2) as pool:
        bulk = pool.submit(s.submit, texts, "tenant-a")
        assert bulk_model.entered.wait(WAIT)  # a slice is in the bulk copy and stays there
        query = pool.submit(s.submit, ["the query"], query=True)
        assert query.result(WAIT)[:, 0].tolist() == lengths(["the query"])  # answered meanwhile
        assert not bulk.done()
        bulk_model.release.set()
        assert bulk.result(WAIT)[:, 0].tolist() == lengths(texts)
    assert query_model.calls == [["the query"]]  # queries only on their copy, bulk only on the other
    assert bulk_model.calls == [texts[:4], texts[4:]]
    s.close()
    assert query.done() and s.submit(["again"], query=True)[:, 0].tolist() == lengths(["again"])  # restarts
    s.close()


def test_with_a_copy_for_small_writes_an_entry_does_not_wait_for_another_namespaces_slice() -> None:
    bulk_model, query_model, small_model = HeldModel(), HeldModel(), HeldModel()
    query_model.release.set(), small_model.release.set()
    texts = [f"chunk {i}" for i in range(8)]
    s = EmbedScheduler(bulk_model, "fake", 2, SchedulerPolicy(slice_texts=4, slice_seconds=None, small_texts=2),
                       query_embed=query_model, small_embed=small_model)
    with ThreadPoolExecutor(3) as pool:
        bulk = pool.submit(s.submit, texts, "tenant-a")
        assert bulk_model.entered.wait(WAIT)  # tenant-a's slice is in the bulk copy and stays there
        entry = pool.submit(s.submit, ["step 3: the invoice total is 42"], "tenant-b")
        pair = pool.submit(s.submit, ["a note", "its second chunk"], "tenant-b")
        assert entry.result(WAIT)[:, 0].tolist() == lengths(["step 3: the invoice total is 42"])
        assert pair.result(WAIT)[:, 0].tolist() == lengths(["a note", "its second chunk"])  # in the caller's order
        three = pool.submit(s.submit, ["one", "two", "three"], "tenant-b")  # above small_texts: bulk work
        until(lambda: s.stats().depth["bulk"] == 4 + 3)
        assert not bulk.done() and not three.done()
        bulk_model.release.set()
        assert bulk.result(WAIT)[:, 0].tolist() == lengths(texts)
        assert three.result(WAIT)[:, 0].tolist() == lengths(["one", "two", "three"])
    assert query_model.calls == []  # a write never shares a pass with queries (a note would pad them)
    small_texts = sorted(t for call in small_model.calls for t in call)
    assert small_texts == sorted(["step 3: the invoice total is 42", "a note", "its second chunk"])
    assert sorted(t for call in bulk_model.calls for t in call) == sorted(texts + ["one", "two", "three"])
    s.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_bulk_work_runs_nicer_than_queries_when_queries_have_their_own_copy() -> None:
    seen: dict[str, int] = {}

    def recording(kind: str) -> Callable[[Sequence[str]], np.ndarray]:
        def embed(texts: Sequence[str]) -> np.ndarray:
            seen[kind] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            return np.ones((len(texts), 2), dtype=np.float32)
        return embed

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    s = EmbedScheduler(recording("bulk"), "fake", 2, SchedulerPolicy(bulk_nice=3), query_embed=recording("query"))
    s.submit(["a chunk", "another"], "ns"), s.submit(["a query"], query=True)
    s.close()
    assert seen == {"bulk": min(19, base + 3), "query": base}


def test_the_service_gives_minilm_a_copy_for_queries_unless_configured_not_to() -> None:
    class Copyable(HashEmbedder):
        def copy_for_queries(self) -> HashEmbedder:
            return HashEmbedder()

        def copy_for_small_writes(self) -> HashEmbedder:
            return HashEmbedder()

    with_copy = ScheduledEmbedder(Copyable(), SchedulerPolicy.from_settings(Settings(embed_small_writes=2)))
    without = ScheduledEmbedder(Copyable(), SchedulerPolicy.from_settings(
        Settings(embed_query_worker=False, embed_small_writes=2)))
    assert with_copy.query_model is not None and without.query_model is None
    assert with_copy.small_model is not None and without.small_model is None  # no third copy without a second
    default = ScheduledEmbedder(Copyable(), SchedulerPolicy.from_settings(Settings()))
    assert default.query_model is not None and default.small_model is None  # the third copy is opt-in
    assert ScheduledEmbedder(HashEmbedder()).query_model is None  # a model that cannot copy itself: one worker
    vectors = with_copy.embed(["same text"], query=True)
    assert np.allclose(vectors, with_copy.embed(["same text"], "ns"))  # any copy, the same vector
    assert np.allclose(vectors, with_copy.embed(["same text", "x", "y"], "ns")[:1])
    with_copy.scheduler.close()


def test_bulk_work_of_two_namespaces_is_served_in_turn() -> None:
    model = HeldModel()
    s = scheduler(model)
    a, b = [f"a {i}" for i in range(20)], [f"b {i}" for i in range(20)]
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(s.submit, a, "big-tenant")
        assert model.entered.wait(WAIT)
        second = pool.submit(s.submit, b, "small-tenant")
        until(lambda: s.stats().namespaces == 2)
        model.release.set()
        first.result(WAIT), second.result(WAIT)
    # b arrives while a's first slice runs: a's turn ends, then they alternate until one has no more.
    assert [call[0][0] for call in model.calls] == list("aababababb")


def test_requests_of_one_namespace_take_turns() -> None:
    """An agent's note does not wait for its own namespace's upload to finish (78 s behind two abandoned
    1M-character uploads, before): after each slice an unfinished request goes behind the others."""
    model = HeldModel()
    s = scheduler(model)
    upload = [f"upload {i:02}" for i in range(20)]
    with ThreadPoolExecutor(3) as pool:
        big = pool.submit(s.submit, upload, "ns")
        assert model.entered.wait(WAIT)
        note = pool.submit(s.submit, ["note"], "ns")
        until(lambda: s.stats().depth["bulk"] == 17)
        model.release.set()
        assert note.result(WAIT)[0, 0] == len("note")
        assert big.result(WAIT)[:, 0].tolist() == lengths(upload)
    # the upload's first slice (running when the note came), one more slice of it, then the note's turn
    assert [c.count("note") for c in model.calls] == [0, 0, 1, 0, 0, 0]
    assert sum(len(c) for c in model.calls) == 21


def test_small_requests_of_one_namespace_share_a_slice() -> None:
    model = HeldModel()
    s = scheduler(model)
    with ThreadPoolExecutor(6) as pool:
        held = pool.submit(s.submit, ["held"], "other")
        assert model.entered.wait(WAIT)
        entries = [pool.submit(s.submit, [f"entry {i}"], "ns") for i in range(5)]
        until(lambda: s.stats().depth["bulk"] == 5)
        model.release.set()
        assert [f.result(WAIT)[0, 0] for f in entries] == lengths([f"entry {i}" for i in range(5)])
        held.result(WAIT)
    assert [len(c) for c in model.calls] == [1, 4, 1]


def test_waiting_queries_are_embedded_in_one_forward_pass() -> None:
    model = HeldModel()
    s = scheduler(model)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(s.submit, ["q0"], query=True)
        assert model.entered.wait(WAIT)
        rest = [pool.submit(s.submit, [f"query {i}"], query=True) for i in range(1, 4)]
        until(lambda: s.stats().depth["query"] == 3)
        model.release.set()
        first.result(WAIT)
        assert [f.result(WAIT)[0, 0] for f in rest] == lengths([f"query {i}" for i in range(1, 4)])
    assert model.calls[0] == ["q0"] and sorted(model.calls[1]) == ["query 1", "query 2", "query 3"]
    assert len(model.calls) == 2


def test_every_waiting_query_goes_before_the_next_slice_in_batches_of_query_batch() -> None:
    model = HeldModel()
    s = scheduler(model, query_batch=2)
    with ThreadPoolExecutor(5) as pool:
        bulk = pool.submit(s.submit, [f"chunk {i}" for i in range(8)], "a")
        assert model.entered.wait(WAIT)
        queries = [pool.submit(s.submit, [f"query {i}"], query=True) for i in range(3)]
        until(lambda: s.stats().depth["query"] == 3)
        model.release.set()
        bulk.result(WAIT), [q.result(WAIT) for q in queries]
    assert [len(c) for c in model.calls] == [4, 2, 1, 4] and model.calls[3][0] == "chunk 4"


@pytest.mark.parametrize("slice_seconds, sizes", [(2, [1] + [2] * 9 + [1]), (100, [1, 8, 8, 3])])
def test_a_slice_holds_what_the_model_embeds_in_slice_seconds(slice_seconds: float, sizes: list[int]) -> None:
    now = [0.0]
    seen: list[int] = []

    def ten_characters_per_second(texts: Sequence[str]) -> np.ndarray:  # on the scheduler's clock
        seen.append(len(texts))
        now[0] += sum(map(len, texts)) / 10
        return np.ones((len(texts), 2), dtype=np.float32)

    s = EmbedScheduler(ten_characters_per_second, "fake", 2,
                       SchedulerPolicy(slice_texts=8, slice_seconds=slice_seconds), clock=lambda: now[0])
    assert s.submit([f"chunk {i:04d}" for i in range(20)], "a").shape == (20, 2)  # 10 characters each
    # Speed unknown: one text measures it; then 2 s is 2 texts, or slice_texts (8) caps them.
    assert seen == sizes


def test_a_full_queue_refuses_new_work_of_its_kind_with_overloaded() -> None:
    model = HeldModel()
    s = scheduler(model, max_pending=8)
    with ThreadPoolExecutor(2) as pool:
        bulk = pool.submit(s.submit, [f"chunk {i}" for i in range(12)], "a")
        assert model.entered.wait(WAIT)
        until(lambda: s.stats().depth["bulk"] == 8)  # 4 in the model, 8 waiting: the bound
        with pytest.raises(Overloaded, match="has 8 bulk texts waiting") as refused:
            s.submit(["one more"], "b")
        assert refused.value.status_code == 503 and refused.value.retry_after >= 1
        assert isinstance(refused.value, Refused) and refused.value.limit == "embed_queue_max_texts"
        query = pool.submit(s.submit, ["a query"], query=True)  # queries have their own bound
        until(lambda: s.stats().depth["query"] == 1)
        model.release.set()
        assert query.result(WAIT).shape == (1, 2) and bulk.result(WAIT).shape == (12, 2)
    assert all("one more" not in c for c in model.calls)


def test_a_request_without_progress_for_the_timeout_gives_up_and_is_never_embedded() -> None:
    model = HeldModel()
    s = scheduler(model, timeout_seconds=0.05)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(s.submit, ["held"], "a")
        assert model.entered.wait(WAIT)
        no_progress = r"made no progress on this request \(nor on the work ahead of it\) for 0.05 s"
        with pytest.raises(Overloaded, match=no_progress):
            s.submit(["the query"], query=True)
        assert s.stats().depth["query"] == 0
        with pytest.raises(Overloaded):
            held.result(WAIT)  # its caller gave up too, while the model still held it
        model.release.set()
    s.close()  # waits for the worker
    assert model.calls == [["held"]]


def test_a_failing_text_fails_only_its_own_request() -> None:
    model = HeldModel(fail_on="poison")
    s = scheduler(model)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(s.submit, ["q0"], query=True)
        assert model.entered.wait(WAIT)
        good = pool.submit(s.submit, ["fine"], query=True)
        bad = pool.submit(s.submit, ["poison"], query=True)
        bulk = pool.submit(s.submit, [f"chunk {i}" for i in range(10)] + ["poison"], "a")  # shortest: first
        until(lambda: s.stats().depth == {"query": 2, "bulk": 11, "small": 0})
        model.release.set()
        first.result(WAIT)
        assert good.result(WAIT)[0, 0] == len("fine")
        with pytest.raises(ValueError, match="cannot embed 'poison'"):
            bad.result(WAIT)
        with pytest.raises(ValueError, match="cannot embed 'poison'"):
            bulk.result(WAIT)
    s.close()
    assert all("chunk 9" not in c for c in model.calls)  # the rest of a failed request is dropped


def test_bulk_texts_are_embedded_shortest_first_and_returned_in_the_callers_order() -> None:
    model = HeldModel()
    model.release.set()
    texts = ["a long text of many words", "short", "a text of medium size", "mid text", "tiny"]
    vectors = scheduler(model).submit(texts, "a")
    assert vectors[:, 0].tolist() == lengths(texts)
    assert model.calls == [["tiny", "short", "mid text", "a text of medium size"], ["a long text of many words"]]


def test_vectors_of_the_wrong_shape_are_an_error() -> None:
    s = EmbedScheduler(lambda texts: np.zeros((len(texts), 3), dtype=np.float32), "fake", 2)
    with pytest.raises(RuntimeError, match=r"returned vectors of shape \(1, 3\) for 1 texts; expected \(1, 2\)"):
        s.submit(["x"], "a")


def test_stats_and_prometheus_series_report_depth_and_waits() -> None:
    from prometheus_client import REGISTRY

    model = HeldModel()
    s = EmbedScheduler(model, "fake-stats", 2, SchedulerPolicy(slice_texts=4, slice_seconds=None))
    labels = {"model": "fake-stats", "kind": "bulk"}
    before = REGISTRY.get_sample_value("agentmem_embed_wait_seconds_count", labels) or 0
    with ThreadPoolExecutor(2) as pool:
        bulk = pool.submit(s.submit, [f"chunk {i}" for i in range(10)], "a")
        assert model.entered.wait(WAIT)
        until(lambda: s.stats().depth["bulk"] == 6)
        assert REGISTRY.get_sample_value("agentmem_embed_queue_depth", labels) == 6
        model.release.set()
        bulk.result(WAIT)
    stats = s.stats()
    assert stats.depth == {"query": 0, "bulk": 0, "small": 0} and len(stats.waits["bulk"]) == 1
    assert stats.wait_quantile("bulk", 0.5) == stats.waits["bulk"][0] and stats.wait_quantile("query", 0.5) is None
    assert REGISTRY.get_sample_value("agentmem_embed_queue_depth", labels) == 0
    assert REGISTRY.get_sample_value("agentmem_embed_wait_seconds_count", labels) == before + 1


def test_loading_one_model_does_not_hold_up_another_models_embeddings() -> None:
    loading, finish = threading.Event(), threading.Event()

    def slow_load() -> HashEmbedder:
        loading.set()
        assert finish.wait(WAIT)  # distilling a model takes minutes
        return HashEmbedder(256)

    models = Embedders.of(HashEmbedder(), extra=[ModelSpec("hash-test-256", "1", 256, slow_load)])
    with ThreadPoolExecutor(2) as pool:
        loaded = pool.submit(models.get, "hash-test-256")
        assert loading.wait(WAIT)
        served = pool.submit(lambda: models.get("hash-test").embed(["still served"], "ns"))
        assert served.result(WAIT).shape == (1, 384)
        assert not loaded.done()
        finish.set()
        assert loaded.result(WAIT).dimension == 256
    assert sorted(s.model for s in models.stats()) == ["hash-test", "hash-test-256"]  # one queue per model
    models.close()


class _HeldEmbedder:
    """A real (hash) embedder whose first bulk forward pass waits for `release`; records every pass."""

    def __init__(self) -> None:
        self.inner = HashEmbedder()
        self.name, self.version, self.dimension = self.inner.name, self.inner.version, self.inner.dimension
        self.calls: list[list[str]] = []
        self.entered, self.release = threading.Event(), threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(texts) > 1:  # the document's chunks, not the queries of make_tenant's checks
            self.entered.set()
            assert self.release.wait(WAIT)
        return self.inner.embed(texts)


def test_a_search_is_answered_while_another_namespace_uploads(fresh_db: str, tmp_path: Path) -> None:
    settings = Settings(database_url=fresh_db, data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, scheduler=False,
                        chunk_tokens=16, embed_slice_texts=4, embed_slice_seconds=0)
    model = _HeldEmbedder()
    with TestClient(create_app(settings, embedder=model), raise_server_exceptions=False) as client:
        big, small = make_tenant(client, "big"), make_tenant(client, "small")
        r = client.put("/documents", json={"source_uri": "kb:1", "text": "Cats chase mice."}, headers=small.headers)
        assert r.status_code == 200, r.text
        model.release.clear()
        model.entered.clear()
        calls_before = len(model.calls)
        text = " ".join(f"Sentence {i} of a long upload about the weather." for i in range(60))
        embedders = client.app.state.services.embedders  # type: ignore[attr-defined]
        with ThreadPoolExecutor(2) as pool:
            upload = pool.submit(client.put, "/documents", json={"source_uri": "kb:big", "text": text},
                                 headers=big.headers)
            assert model.entered.wait(WAIT)
            search = pool.submit(client.post, "/search", json={"query": "who chases mice", "k": 1},
                                 headers=small.headers)
            until(lambda: embedders.get(embedders.default).scheduler.stats().depth["query"] == 1)
            model.release.set()
            found, stored = search.result(WAIT), upload.result(WAIT)
        assert found.status_code == 200, found.text
        assert [h["source_uri"] for h in found.json()["results"]] == ["kb:1"]
        assert stored.status_code == 200 and stored.json()["chunks"] > 12, stored.text
    passes = model.calls[calls_before:]
    assert len(passes[0]) == 4 and passes[1] == ["who chases mice"]  # after one slice of the upload
