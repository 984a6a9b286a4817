"""The second model: static word-piece vectors distilled from MiniLM (embeddings/static.py).

Distilling the whole vocabulary takes a while, so these tests distil only the word pieces of the
texts they use (a table with the same shape, zero elsewhere), cached under the test's tmp dir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentmem.embeddings import static
from agentmem.embeddings.minilm import minilm_path
from agentmem.embeddings.reembed import reembed_namespace, start_migration
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, upsert_documents
from reembed_helpers import assert_all_by, services_for

TEXTS = {
    "kb://cats": "The cat sat on the mat and purred at the sleeping dog.",
    "kb://revenue": "Quarterly revenue grew by five percent thanks to strong sales in Europe.",
    "kb://rockets": "The rocket engine burned liquid oxygen and kerosene during the launch.",
}
QUERIES = {"a kitten lying on a rug": "kb://cats", "company income and sales figures": "kb://revenue",
           "spacecraft propulsion fuel": "kb://rockets"}


def _piece_ids(texts: list[str]) -> list[int]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(minilm_path()) / "tokenizer.json"))
    return sorted({i for e in tokenizer.encode_batch(texts, add_special_tokens=False) for i in e.ids})


@pytest.fixture(scope="module")
def pieces() -> list[int]:
    return _piece_ids([*TEXTS.values(), *QUERIES])


@pytest.fixture(scope="module")
def small_static(tmp_path_factory: pytest.TempPathFactory, pieces: list[int]) -> static.StaticEmbedder:
    return static.load_static(tmp_path_factory.mktemp("models"), token_ids=pieces)


def test_it_is_another_model_with_its_own_dimension(small_static: static.StaticEmbedder, embedder: Any) -> None:
    v = small_static.embed(list(TEXTS.values()) + ["", "zzzz qqqq"])
    assert v.shape == (5, static.DIMENSION) and small_static.dimension == 256 != embedder.dimension
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)  # unit vectors, even with no known piece
    assert small_static.name == static.NAME and small_static.version.startswith("distilled-")
    assert embedder.version in small_static.version  # its version names the model it was distilled from


def test_it_ranks_by_meaning(small_static: static.StaticEmbedder) -> None:
    docs = small_static.embed(list(TEXTS.values()))
    for query, want in QUERIES.items():
        scores = docs @ small_static.embed([query])[0]
        assert list(TEXTS)[int(np.argmax(scores))] == want, (query, scores)


def test_the_table_is_cached_and_not_distilled_again(tmp_path: Path, pieces: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    first = static.load_static(tmp_path, token_ids=pieces[:20])
    monkeypatch.setattr(static, "distill", lambda *a, **k: pytest.fail("distilled twice"))
    again = static.load_static(tmp_path, token_ids=pieces[:20])
    assert np.array_equal(first.embed(["the cat"]), again.embed(["the cat"]))


def test_a_namespace_migrates_from_minilm_to_the_static_model(
        fresh_db: str, tmp_path: Path, embedder: Any, small_static: static.StaticEmbedder) -> None:
    import psycopg
    from pgvector.psycopg import register_vector

    from agentmem.embeddings.models import default_model
    from agentmem.memory.namespaces import create_namespace, issue_key, resolve_key
    from agentmem.retrieval.filters import Filters
    from agentmem.retrieval.search import SearchPlan, Timings, query_embedder, run_search
    from agentmem.retrieval.strategies import resolve_strategy

    models = Embedders.of(embedder, small_static)
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        register_vector(conn)
        create_namespace(conn, "real", default_model(conn, models).id)
        who = resolve_key(conn, issue_key(conn, "real", "k").key)
        assert who is not None
        upsert_documents(conn, models, who, [DocumentInput(uri, text) for uri, text in TEXTS.items()], 128)
    with services_for(fresh_db, models, tmp_path) as services:
        def top(query: str) -> tuple[str, str]:
            plan = SearchPlan(who.namespace_id, query, resolve_strategy("vector_only"), Filters(), 20_000)
            results, qvec = run_search(services.pool, query_embedder(models, services.default_model), plan, None,
                                       Timings())
            return results[0].hit.source_uri, qvec.model.name

        assert {q: top(q) for q in QUERIES} == {q: (uri, embedder.name) for q, uri in QUERIES.items()}
        with services.pool.connection() as conn:
            assert start_migration(conn, models, services.default_model, who.namespace_id, static.NAME).status == "started"
        result = reembed_namespace(services.pool, models, services.default_model, who.namespace_id, 2, lambda *_: None)
        assert result["flipped"]["to"]["dimension"] == 256
        assert {q: top(q) for q in QUERIES} == {q: (uri, static.NAME) for q, uri in QUERIES.items()}
    assert_all_by(fresh_db, who.namespace_id, small_static) == len(TEXTS)
