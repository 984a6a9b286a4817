"""The vector side embeds the query without the words nearly every document of the namespace has."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from pgvector.psycopg import register_vector

from hash_embedder import HashEmbedder
from agentmem.embeddings.registry import Embedders
from agentmem.memory.documents import DocumentInput, upsert_documents
from agentmem.memory.namespaces import Principal, create_namespace, issue_key, resolve_key
from agentmem.core.recent import RecentCache
from agentmem.retrieval import query_focus
from agentmem.retrieval.query_focus import focused_query, without_words

HOBBIES = ["pottery", "camping", "painting", "swimming", "hiking", "chess", "baking", "cycling", "guitar", "running"]


def test_without_words_keeps_the_rest_of_the_question() -> None:
    assert without_words("What did Caroline research?", {"Caroline"}) == "What did research?"
    assert without_words("Caroline's identity, said Caroline", {"Caroline's", "Caroline"}) == "identity, said"
    assert without_words("What did Carolines research?", {"Caroline"}) == "What did Carolines research?"  # whole words
    assert without_words("Caroline Melanie", {"Caroline", "Melanie"}) == "Caroline Melanie"  # nothing left: as written
    assert without_words("anything", set()) == "anything"


def _turns(conn: psycopg.Connection[Any], who: Principal, n: int) -> None:
    docs = [DocumentInput(f"chat:{i}", f"{'Zed' if i % 2 else 'Ana'}: I went {HOBBIES[i % 10]} with Ana and Zed, day {i}.")
            for i in range(n)]
    upsert_documents(conn, Embedders.of(HashEmbedder()), who, docs, 64)


def _principal(conn: psycopg.Connection[Any], name: str) -> Principal:
    create_namespace(conn, name)
    return resolve_key(conn, issue_key(conn, name, "k").key)


@pytest.fixture
def conn(fresh_db: str):
    with psycopg.connect(fresh_db, autocommit=True) as c:
        register_vector(c)
        yield c


def test_words_in_every_document_are_left_out(conn) -> None:
    who = _principal(conn, "chat")
    _turns(conn, who, 80)
    assert focused_query(conn, who.namespace_id, "What did Zed do with the guitar?") == "What did do with the guitar?"
    assert focused_query(conn, who.namespace_id, "Zed's camping and Ana") == "camping and"
    # a word in a tenth of the documents stays, and a query of common words only is embedded as written
    assert focused_query(conn, who.namespace_id, "chess with friends") == "chess with friends"
    assert focused_query(conn, who.namespace_id, "Ana and Zed") == "Ana and Zed"


def test_a_small_namespace_or_another_tenant_changes_nothing(conn) -> None:
    small, big = _principal(conn, "small"), _principal(conn, "big")
    _turns(conn, small, query_focus.MIN_DOCUMENTS - 1)  # every document names Zed, but too few to tell
    _turns(conn, big, 80)
    assert focused_query(conn, small.namespace_id, "What did Zed do?") == "What did Zed do?"
    other = _principal(conn, "other")
    upsert_documents(conn, Embedders.of(HashEmbedder()), other,
                     [DocumentInput(f"o:{i}", f"Notes on topic {i} for the team.") for i in range(60)], 64)
    assert focused_query(conn, other.namespace_id, "What did Zed do?") == "What did Zed do?"  # Zed is common elsewhere


def test_the_sample_is_bounded_to_the_latest_chunks(conn, monkeypatch: pytest.MonkeyPatch) -> None:
    who = _principal(conn, "drift")
    upsert_documents(conn, Embedders.of(HashEmbedder()), who,
                     [DocumentInput(f"old:{i}", f"Old entry {i} about Zed.") for i in range(100)], 64)
    upsert_documents(conn, Embedders.of(HashEmbedder()), who,
                     [DocumentInput(f"new:{i}", f"New entry {i} about Ana.") for i in range(100)], 64)
    monkeypatch.setattr(query_focus, "SAMPLE_CHUNKS", 100)
    assert focused_query(conn, who.namespace_id, "Zed or Ana?") == "Zed or?"  # only the latest 100: all Ana
    monkeypatch.setattr(query_focus, "SAMPLE_CHUNKS", 200)
    assert focused_query(conn, who.namespace_id, "Zed or Ana?") == "Zed or Ana?"  # each in half of them


def test_the_process_cache_answers_for_its_time_then_asks_again(conn) -> None:
    who = _principal(conn, "cached")
    _turns(conn, who, 80)
    now = [0.0]
    known = RecentCache(100, query_focus.CACHE_SECONDS, clock=lambda: now[0])
    assert focused_query(conn, who.namespace_id, "What did Zed do with the guitar?", known) == "What did do with the guitar?"
    assert known.get((who.namespace_id, "Zed")) == query_focus.COMMON
    assert known.get((who.namespace_id, "What")) == query_focus.STOP  # a stop word: no lexeme
    # 300 new turns without Zed: the latest chunks no longer all name him, but the answer is kept for its time
    upsert_documents(conn, Embedders.of(HashEmbedder()), who,
                     [DocumentInput(f"later:{i}", f"Ana: a quiet day {i}.") for i in range(300)], 64)
    q = "What did Zed do with the guitar?"
    assert focused_query(conn, who.namespace_id, q, known) == "What did do with the guitar?"
    assert focused_query(conn, who.namespace_id, q) == q  # without the cache
    now[0] = query_focus.CACHE_SECONDS
    assert focused_query(conn, who.namespace_id, q, known) == q


def test_cached_words_are_not_asked_again_and_namespaces_are_apart(conn) -> None:
    a, b = _principal(conn, "a"), _principal(conn, "b")
    _turns(conn, a, 80)
    _turns(conn, b, 80)
    known = query_focus.word_cache()
    known.put((a.namespace_id, "guitar"), query_focus.COMMON)  # a planted answer: the cache is believed
    assert focused_query(conn, a.namespace_id, "Zed guitar chess", known) == "chess"
    assert focused_query(conn, b.namespace_id, "Zed guitar chess", known) == "guitar chess"  # b asks for itself
    # a query of cached words only, all of them common, is embedded as written, as without the cache
    assert focused_query(conn, a.namespace_id, "Zed guitar", known) == "Zed guitar"
    assert known.get((a.namespace_id, "chess")) == query_focus.DISTINCT
    # a long word is looked up every time, never held: the cache's memory is bounded by words of bounded length
    long_word = "x" * (query_focus.CACHE_WORD_CHARS + 1)
    focused_query(conn, a.namespace_id, f"chess {long_word}", known)
    assert known.get((a.namespace_id, long_word)) is None and len(known) == 6  # Zed, guitar, chess in a and b


def test_the_service_keeps_a_word_cache_per_process(client, tenant) -> None:
    services = client.app.state.services
    assert len(services.common_words) == 0
    r = client.post("/search", headers=tenant.headers, json={"query": "Which zebra crossed?"})
    assert r.status_code == 200, r.text
    assert len(services.common_words) == 3  # "Which" (a stop word), "zebra", "crossed"
    client.post("/context/assemble", headers=tenant.headers, json={"query": "zebra crossed", "budget_tokens": 500})
    assert len(services.common_words) == 3
