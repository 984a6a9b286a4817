from fastapi.testclient import TestClient

from agentmem.core.tokens import count_tokens
from conftest import Tenant
from agentmem.memory.hashing import content_hash

LONG = " ".join(f"Paragraph {i} explains one more detail of the pricing model in plain words." for i in range(120))


def _put(client: TestClient, tenant: Tenant, **doc) -> dict:
    r = client.put("/documents", json=doc, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_create_then_unchanged_then_updated(client: TestClient, tenant: Tenant, db) -> None:
    first = _put(client, tenant, source_uri="https://docs.example/pricing", text=LONG, title="Pricing",
                 metadata={"team": "sales"}, source_updated_at="2026-01-01T00:00:00Z")
    assert first["status"] == "created" and first["version"] == 1 and first["chunks"] > 5
    again = _put(client, tenant, source_uri="https://docs.example/pricing", text=LONG, title="Pricing",
                 metadata={"team": "sales"}, source_updated_at="2026-01-01T00:00:00Z")
    assert again == {**first, "status": "unchanged"}
    assert db.execute("SELECT count(*) FROM document_versions").fetchone()[0] == 1
    changed = _put(client, tenant, source_uri="https://docs.example/pricing", text="Prices went up. " + LONG[:200])
    assert changed["status"] == "updated" and changed["version"] == 2 and changed["id"] == first["id"]
    # The old version's chunks are gone in the same transaction: no stale twin stays searchable.
    texts = [r[0] for r in db.execute("SELECT text FROM chunks")]
    assert len(texts) == changed["chunks"] and texts[0].startswith("Prices went up.")
    assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 1


def test_get_document_with_chunks(client: TestClient, tenant: Tenant, db) -> None:
    out = _put(client, tenant, source_uri="s", text=LONG, metadata={"lang": "en"})
    doc = client.get(f"/documents/{out['id']}", headers=tenant.headers).json()
    assert doc["text"] == LONG and doc["content_hash"] == content_hash(LONG) and doc["tokens"] == count_tokens(LONG)
    assert doc["metadata"] == {"lang": "en"} and doc["kind"] == "document"
    assert [c["ord"] for c in doc["chunks"]] == list(range(out["chunks"]))
    assert all(c["tokens"] == count_tokens(c["text"]) <= 128 for c in doc["chunks"])
    assert all(c["embedding_model"] == "all-MiniLM-L6-v2" for c in doc["chunks"])
    # Every chunk has a unit vector and a keyword index entry.
    rows = db.execute("SELECT vector_norm(embedding), tsv IS NOT NULL AND length(tsv) > 0 FROM chunks").fetchall()
    assert len(rows) == out["chunks"] and all(abs(n - 1) < 1e-3 and has for n, has in rows)


def test_metadata_change_is_a_new_version_without_reembedding(client: TestClient, tenant: Tenant, db) -> None:
    first = _put(client, tenant, source_uri="s", text="stable text", metadata={"v": 1})
    chunk_ids = [r[0] for r in db.execute("SELECT id FROM chunks")]
    second = _put(client, tenant, source_uri="s", text="stable text", metadata={"v": 2})
    assert second["status"] == "updated" and second["version"] == 2
    assert [r[0] for r in db.execute("SELECT id FROM chunks")] == chunk_ids
    assert client.get(f"/documents/{first['id']}", headers=tenant.headers).json()["metadata"] == {"v": 2}


def test_title_is_indexed_with_every_chunk(client: TestClient, tenant: Tenant, db) -> None:
    """The title is embedded and keyword-indexed with each chunk (before the caller's context), so a new
    title is new chunks; the stored hash still matches the chunk's input, so freshness sees no change."""
    first = _put(client, tenant, source_uri="p", text=LONG, title="Pricing")
    rows = db.execute("SELECT id, context, embedded_hash = embedding_input_hash(context, text) FROM chunks").fetchall()
    assert len(rows) == first["chunks"] > 1 and all(ctx == "Pricing" and same for _, ctx, same in rows)
    renamed = _put(client, tenant, source_uri="p", text=LONG, title="Price list")
    assert renamed["status"] == "updated" and renamed["version"] == 2
    after = db.execute("SELECT id, context FROM chunks").fetchall()
    assert {ctx for _, ctx in after} == {"Price list"} and not {r[0] for r in rows} & {r[0] for r in after}
    _put(client, tenant, source_uri="q", text="short", title="T", context="the turn before")
    assert db.execute("SELECT c.context FROM chunks c JOIN documents d ON d.id = c.document_id"
                      " WHERE d.source_uri = 'q'").fetchone()[0] == "T\nthe turn before"


def test_only_a_titles_first_tokens_are_indexed_with_each_chunk() -> None:
    """A title may have 2,000 characters; the model reads 256 word pieces: a long title is cut, so the
    chunk's own text stays in its vector."""
    from agentmem.memory.documents import TITLE_INDEX_TOKENS, chunk_context, index_title

    short = "Vitamin D and the risk of falls in older adults: a randomised trial"
    assert index_title(short) == short and chunk_context(short, "ctx") == short + "\nctx"
    long = " ".join(f"word{i}" for i in range(400))
    cut = index_title(long)
    assert long.startswith(cut) and count_tokens(cut) <= TITLE_INDEX_TOKENS < count_tokens(long)
    assert cut.split()[-1] in long.split()  # whole words
    assert chunk_context(long, None) == cut
    unspaced = "長" * 300  # no word to cut at: cut at the token, never half a character
    assert "\ufffd" not in index_title(unspaced) and unspaced.startswith(index_title(unspaced))


def test_batch_answers_per_item(client: TestClient, tenant: Tenant) -> None:
    _put(client, tenant, source_uri="old", text="already here")
    r = client.post("/documents/batch", json={"documents": [
        {"source_uri": "a", "text": "alpha text"},
        {"source_uri": "old", "text": "already here"},
        {"source_uri": "bad", "text": ""},
        {"source_uri": "b", "text": "beta text", "metadata": {"k": 1}},
    ]}, headers=tenant.headers)
    assert r.status_code == 200
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["created", "unchanged", "error", "created"]
    assert [x["index"] for x in res] == [0, 1, 2, 3]
    assert "text" in res[2]["error"] and res[2]["source_uri"] == "bad"


def test_memories_are_stored_like_documents(client: TestClient, tenant: Tenant) -> None:
    r = client.post("/memories", json={"text": "User prefers metric units.", "kind": "preference",
                                       "source": "chat:2026-01-01"}, headers=tenant.headers)
    assert r.status_code == 201
    out = r.json()
    assert out["status"] == "created" and out["chunks"] == 1
    doc = client.get(f"/documents/{out['id']}", headers=tenant.headers).json()
    assert doc["kind"] == "preference" and doc["metadata"] == {"source": "chat:2026-01-01"}
    assert doc["source_uri"].startswith("memory:")
    # The same text twice is two memories, not an upsert.
    again = client.post("/memories", json={"text": "User prefers metric units.", "kind": "preference"},
                        headers=tenant.headers).json()
    assert again["id"] != out["id"]


def test_delete_document_returns_receipt_and_leaves_nothing(client: TestClient, tenant: Tenant, db) -> None:
    out = _put(client, tenant, source_uri="s", text=LONG)
    _put(client, tenant, source_uri="s", text=LONG + " More.")
    r = client.delete(f"/documents/{out['id']}", headers=tenant.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == out["id"] and body["deleted"]["documents"] == 1
    assert body["deleted"]["chunks"] > 5 and body["deleted"]["document_versions"] == 2
    assert client.get(f"/documents/{out['id']}", headers=tenant.headers).status_code == 404
    assert client.delete(f"/documents/{out['id']}", headers=tenant.headers).status_code == 404
    for table in ("documents", "document_versions", "chunks"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    # The source can be written again from scratch.
    assert _put(client, tenant, source_uri="s", text="fresh")["version"] == 1
