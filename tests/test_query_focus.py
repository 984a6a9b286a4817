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
