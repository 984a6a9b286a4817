import pytest
from fastapi.testclient import TestClient

from conftest import Tenant

DOCS = [
    ("kb://cats", "Cats are small domesticated carnivores that purr and hunt mice.", {"topic": "animals"}),
    ("kb://dogs", "Dogs are loyal companions; many breeds were bred for herding sheep.", {"topic": "animals"}),
    ("kb://pg", "PostgreSQL is a relational database with extensions such as pgvector.", {"topic": "databases"}),
    ("kb://hnsw", "HNSW graphs give approximate nearest neighbour search over embeddings.", {"topic": "databases"}),
    ("kb://zyx", "The quarterly report code ZX-4471 tracks shipping delays in Rotterdam.", {"topic": "ops"}),
]


def _seed(client: TestClient, tenant: Tenant) -> dict[str, str]:
    ids = {}
    for uri, text, meta in DOCS:
        r = client.put("/documents", json={"source_uri": uri, "text": text, "metadata": meta,
                                           "source_updated_at": "2026-01-01T00:00:00Z" if "o" in uri else None},
                       headers=tenant.headers)
        ids[uri] = r.json()["id"]
    return ids


def _search(client: TestClient, tenant: Tenant, **body) -> dict:
    r = client.post("/search", json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_each_mode_finds_what_it_should(client: TestClient, tenant: Tenant) -> None:
    _seed(client, tenant)
    # A rare literal token: keyword search nails it.
    kw = _search(client, tenant, query="ZX-4471", mode="keyword", k=3)["results"]
    assert kw[0]["source_uri"] == "kb://zyx"
    # A paraphrase without shared words: vector search finds it.
    vec = _search(client, tenant, query="which pet meows and chases rodents", mode="vector", k=2)["results"]
    assert vec[0]["source_uri"] == "kb://cats"
    hyb = _search(client, tenant, query="vector similarity index for embeddings", k=5)
    assert hyb["strategy"] == "hybrid_zscore"  # the default
    assert {r["source_uri"] for r in hyb["results"][:2]} == {"kb://hnsw", "kb://pg"}


def test_explain_gives_ranks_and_fused_score(client: TestClient, tenant: Tenant) -> None:
    _seed(client, tenant)
    res = _search(client, tenant, query="herding dogs", explain=True, k=5, strategy="hybrid_rrf")["results"]
    top = res[0]
    assert top["source_uri"] == "kb://dogs"
    s = top["scores"]
    assert s["vector"]["rank"] == 1 and s["keyword"]["rank"] == 1
    assert abs(s["fused"] - (0.5 / 11 + 1 / 11)) < 1e-9 and abs(top["score"] - s["fused"]) < 1e-12  # k=10, weights .5/1
    assert all(r["scores"]["fused"] >= n["scores"]["fused"] for r, n in zip(res, res[1:]))
    assert _search(client, tenant, query="herding dogs")["results"][0]["scores"] is None


def test_weights_and_k_change_fusion(client: TestClient, tenant: Tenant) -> None:
    _seed(client, tenant)
    res = _search(client, tenant, query="herding dogs", explain=True, rrf_k=10,  # rrf_k alone: RRF
                  weights={"vector": 2.0, "keyword": 0.5})["results"]
    assert abs(res[0]["scores"]["fused"] - (2.0 / 11 + 0.5 / 11)) < 1e-9


def test_filters_on_metadata_kind_and_time(client: TestClient, tenant: Tenant) -> None:
    _seed(client, tenant)
    client.post("/memories", json={"text": "The user likes cats more than dogs.", "kind": "preference"},
                headers=tenant.headers)
    res = _search(client, tenant, query="animals pets", filters={"metadata": {"topic": "databases"}})["results"]
    assert res and {r["source_uri"] for r in res} <= {"kb://pg", "kb://hnsw"}
    res = _search(client, tenant, query="cats", filters={"kind": ["preference"]})["results"]
    assert [r["kind"] for r in res] == ["preference"]
    res = _search(client, tenant, query="cats dogs database", k=10,
                  filters={"source_updated_at": {"gte": "2025-12-31T00:00:00Z"}})["results"]
    assert res and all("o" in r["source_uri"] for r in res)


def test_search_is_current_after_update_and_delete(client: TestClient, tenant: Tenant) -> None:
    ids = _seed(client, tenant)
    client.put("/documents", json={"source_uri": "kb://zyx", "text": "Report code QQ-9 covers Antwerp."},
               headers=tenant.headers)
    assert not [r for r in _search(client, tenant, query="ZX-4471 Rotterdam", mode="keyword")["results"]
                if r["source_uri"] == "kb://zyx"]
    assert _search(client, tenant, query="QQ-9 Antwerp", mode="keyword")["results"][0]["source_uri"] == "kb://zyx"
    client.delete(f"/documents/{ids['kb://cats']}", headers=tenant.headers)
    for mode in ("keyword", "vector", "hybrid"):
        res = _search(client, tenant, query="cats purr mice", mode=mode, k=10)["results"]
        assert "kb://cats" not in {r["source_uri"] for r in res}


def test_namespace_defaults_apply_and_requests_override(client: TestClient, tenant: Tenant) -> None:
    _seed(client, tenant)
    r = client.put("/settings/retrieval", json={"strategy": "keyword_only"}, headers=tenant.headers)
    assert r.status_code == 200
    assert _search(client, tenant, query="dogs")["strategy"] == "keyword_only"
    assert _search(client, tenant, query="dogs", strategy="hybrid_rrf")["strategy"] == "hybrid_rrf"
    assert client.get("/settings/retrieval", headers=tenant.headers).json()["strategy"] == "keyword_only"


def test_search_never_crosses_namespaces(client: TestClient, tenant: Tenant, other_tenant: Tenant) -> None:
    _seed(client, tenant)
    for mode in ("keyword", "vector", "hybrid"):
        assert _search(client, other_tenant, query="cats dogs PostgreSQL", mode=mode)["results"] == []


def test_bad_search_requests(client: TestClient, tenant: Tenant) -> None:
    for body in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "mode": "fuzzy"},
                 {"query": "x", "mode": "vector", "strategy": "hybrid_rrf"}, {"query": "x", "filters": {"kind": ["x"]}},
                 {"query": "x", "weights": {"vector": -1}}, {"query": "x", "filters": {"color": "red"}},
                 {"query": "x", "unit": "paragraph"}):
        r = client.post("/search", json=body, headers=tenant.headers)
        assert r.status_code == 422, body
        assert r.json()["error"]["message"]


LONG = " ".join(f"Paragraph {i}: statins lower cholesterol in patients with heart disease." for i in range(40))


@pytest.mark.parametrize("mode", ["keyword", "vector", "hybrid"])
def test_unit_document_gives_one_result_per_document(client: TestClient, tenant: Tenant, mode: str) -> None:
    _seed(client, tenant)
    r = client.put("/documents", json={"source_uri": "kb://statins", "title": "Statins and cholesterol",
                                       "text": LONG}, headers=tenant.headers)
    assert r.status_code in (200, 201), r.text
    chunks = _search(client, tenant, query="statins cholesterol heart", mode=mode, k=10)["results"]
    assert [c["source_uri"] for c in chunks[:2]] == ["kb://statins"] * 2  # a long document spans chunks
    docs = _search(client, tenant, query="statins cholesterol heart", mode=mode, k=10, unit="document")["results"]
    uris = [d["source_uri"] for d in docs]
    # Keyword: only the statins document matches; the others rank every document, each once.
    assert uris[0] == "kb://statins" and len(uris) == len(set(uris)) == (1 if mode == "keyword" else len(DOCS) + 1)
    assert docs[0]["id"] in {c["id"] for c in chunks if c["source_uri"] == "kb://statins"}


def test_vectors_stay_in_the_row_for_exact_scans(client: TestClient, tenant: Tenant, settings) -> None:
    """A chunk row with its text, context and tsv passes PostgreSQL's ~2 kB TOAST threshold; pgvector
    would move the vector out of line, and an exact scan would then read it through the TOAST index
    (migration 0018). The text may leave the row; the vector stays."""
    import psycopg

    words = " ".join(f"word{i} about storage layout and scans" for i in range(120))
    r = client.put("/documents", json={"source_uri": "kb://long", "title": "A long title " * 20, "text": words},
                   headers=tenant.headers)
    assert r.status_code in (200, 201), r.text
    with psycopg.connect(settings.database_url) as conn:
        if conn.info.server_version < 170000:
            pytest.skip("pg_column_toast_chunk_id needs PostgreSQL 17 (the embedded server is 18)")
        rows = conn.execute(
            "SELECT pg_column_toast_chunk_id(c.embedding), octet_length(c.text) + octet_length(c.context)"
            " + octet_length(c.tsv::text) + 1536 FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.source_uri = 'kb://long'"
        ).fetchall()
    assert len(rows) >= 2
    assert all(size > 2100 for _, size in rows), rows  # big enough that something must leave the row
    assert [toast for toast, _ in rows] == [None] * len(rows)
    found = _search(client, tenant, query="storage layout", mode="vector", k=3)["results"]
    assert found and found[0]["source_uri"] == "kb://long"


def test_a_lone_exact_keyword_match_leads_the_default_hybrid(client: TestClient, tenant: Tenant) -> None:
    """An identifier that one document has: BM25 finds it alone (fewer hits than asked for), and the
    default fusion (z-score) must let that lone match count even where vectors prefer look-alikes."""
    docs = {"kb://rota": "Night shift rota for the Rotterdam warehouse; the change is filed as ZX4471Q.",
            **{f"kb://look-{c}": f"ZX4471{c}" for c in "RPST"}}
    for uri, text in docs.items():
        assert client.put("/documents", json={"source_uri": uri, "text": text}, headers=tenant.headers).status_code == 200
    vec = [r["source_uri"] for r in _search(client, tenant, query="ZX4471Q", mode="vector", k=5)["results"]]
    assert vec[0] != "kb://rota"  # the case that needs it: vectors alone put a look-alike first
    kw = _search(client, tenant, query="ZX4471Q", mode="keyword", k=5)["results"]
    assert [r["source_uri"] for r in kw] == ["kb://rota"]
    hyb = _search(client, tenant, query="ZX4471Q", k=5)
    assert hyb["strategy"] == "hybrid_zscore" and hyb["results"][0]["source_uri"] == "kb://rota"
