"""The operator page's routes: sign-in and out by cookie, what the page shows, escaping, empty states, tenancy."""

from __future__ import annotations

import hashlib
import re
from typing import Any, Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from agentmem.core.settings import Settings
from agentmem.api.app import create_app
from agentmem.api.routes.ui import COOKIE, FORM_MAX_BYTES
from agentmem.memory.sessions import MAX_PER_KEY, session_principal, start_session
from agentmem.api.ui.render import CSS, HEADERS
from conftest import ADMIN_TOKEN, Tenant, make_tenant
from hash_embedder import HashEmbedder
from ui_seed import add_alert, add_probe, add_scores, age, namespace_id


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The page is about stored rows, not meaning: the hash embedder keeps set-up fast."""
    with TestClient(create_app(settings, embedder=HashEmbedder()), raise_server_exceptions=False) as c:
        yield c


def sign_in(client: TestClient, key: str) -> httpx.Response:
    """As a browser does: load the form (it sets the sign-in token's cookie), then post it with the token."""
    return client.post("/ui/sign-in", data={"key": key, "csrf": form_token(client)}, follow_redirects=False)


def form_token(client: TestClient) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui").text)
    assert m, "no sign-in token in the form"
    return m.group(1)


def put(client: TestClient, t: Tenant, uri: str, text: str) -> None:
    r = client.put("/documents", json={"source_uri": uri, "text": text}, headers=t.headers)
    assert r.status_code == 200, r.text


def text_of(html: str, element_id: str) -> str:
    """The text inside the element with this id (tags removed, whitespace collapsed)."""
    m = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no element #{element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split())


def section(html: str, element_id: str) -> str:
    m = re.search(rf'<section id="{element_id}">(.*?)</section>', html, re.S)
    assert m, f"no section #{element_id}"
    return m.group(1)


# --- signing in and out -----------------------------------------------------------------------

def test_signed_out_shows_the_form(client: TestClient) -> None:
    r = client.get("/ui")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/ui/sign-in">' in r.text and 'name="key"' in r.text
    assert 'id="freshness"' not in r.text
    assert r.headers["content-security-policy"] == HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_sign_in_sets_a_strict_http_only_cookie_and_never_shows_the_key(client: TestClient, tenant: Tenant) -> None:
    r = sign_in(client, f"  {tenant.key}\n")  # pasted keys often carry whitespace
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes and "secure" not in attributes
    assert "samesite=strict" in cookie.lower() and "path=/ui" in cookie.lower()
    page = client.get("/ui")
    assert page.status_code == 200
    assert text_of(page.text, "namespace") == "alpha"
    assert tenant.key not in page.text
    assert '<form method="post" action="/ui/sign-out">' in page.text


def test_cookie_is_secure_over_https(settings: Settings, tenant: Tenant) -> None:
    with TestClient(create_app(settings, embedder=HashEmbedder()), base_url="https://testserver") as https:
        r = sign_in(https, tenant.key)
        assert r.status_code == 303
        assert "secure" in {a.strip().lower() for a in r.headers["set-cookie"].split(";")}


@pytest.mark.parametrize("key, status, says", [
    ("amk_not-a-key", 401, "not a key of any namespace"),
    ("", 422, "Enter a key"),
    ("   ", 422, "Enter a key"),
    ("a\x00b", 401, "not a key of any namespace"),
    ("x" * 100_000, 401, "not a key of any namespace"),
])
def test_a_wrong_key_shows_the_form_again(client: TestClient, tenant: Tenant, key: str, status: int,
                                          says: str) -> None:
    r = sign_in(client, key)
    assert r.status_code == status, r.text
    assert says in text_of(r.text, "error")
    assert 'action="/ui/sign-in"' in r.text and "set-cookie" not in r.headers
    assert client.get("/ui").text.count('id="freshness"') == 0
    assert sign_in(client, tenant.key).status_code == 303  # the right key, same way, works


def test_a_key_of_another_kind_is_refused(client: TestClient, tenant: Tenant) -> None:
    assert sign_in(client, ADMIN_TOKEN).status_code == 401  # the admin token is not a namespace key
    assert sign_in(client, tenant.key[:-1]).status_code == 401


@pytest.mark.parametrize("content, content_type, status", [
    (b'{"key": "k"}', "application/json", 415),
    (b"key=%ff%fe", "application/x-www-form-urlencoded", 400),
    (b"key=\xff", "application/x-www-form-urlencoded", 400),
    (b"other=1", "application/x-www-form-urlencoded", 422),
    (b"key=" + b"k" * FORM_MAX_BYTES, "application/x-www-form-urlencoded", 413),  # anyone may post here: not read
    (b"&".join(b"f%d=1" % i for i in range(20)), "application/x-www-form-urlencoded", 400),
    (b"", None, 415),
])
def test_an_unreadable_form_is_a_clear_4xx(client: TestClient, content: bytes, content_type: str | None,
                                           status: int) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/ui/sign-in", content=content, headers=headers, follow_redirects=False)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html") and text_of(r.text, "error")


def test_sign_out_forgets_the_key(client: TestClient, tenant: Tenant) -> None:
    sign_in(client, tenant.key)
    assert 'id="freshness"' in client.get("/ui").text
    r = client.post("/ui/sign-out", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    assert r.headers["set-cookie"].startswith(f'{COOKIE}=""') and "max-age=0" in r.headers["set-cookie"].lower()
    page = client.get("/ui")
    assert page.status_code == 200 and 'action="/ui/sign-in"' in page.text and 'id="freshness"' not in page.text


def test_a_deleted_namespace_signs_the_page_out(client: TestClient, tenant: Tenant) -> None:
    sign_in(client, tenant.key)
    assert client.get("/ui").status_code == 200
    assert client.delete("/admin/namespaces/alpha", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).is_success
    r = client.get("/ui")
    assert r.status_code == 401 and "no longer valid" in text_of(r.text, "error")
    assert "max-age=0" in r.headers["set-cookie"].lower()
    assert client.get("/ui").status_code == 200  # the cookie is gone: the plain form again


# --- sessions, not keys, in the cookie; login CSRF ----------------------------------------------

def _session_rows(db: psycopg.Connection[Any]) -> list[bytes]:
    return [bytes(r[0]) for r in db.execute("SELECT id_hash FROM ui_sessions")]


def test_the_cookie_holds_a_session_id_stored_only_as_its_hash(client: TestClient, tenant: Tenant,
                                                              db: psycopg.Connection[Any]) -> None:
    sign_in(client, tenant.key)
    session = client.cookies.get(COOKIE)
    assert session and tenant.key not in session and session not in tenant.key
    assert _session_rows(db) == [hashlib.sha256(session.encode()).digest()]


def test_signing_out_ends_the_session_on_the_server(client: TestClient, tenant: Tenant,
                                                    db: psycopg.Connection[Any]) -> None:
    sign_in(client, tenant.key)
    session = client.cookies.get(COOKIE)
    assert session
    client.post("/ui/sign-out", follow_redirects=False)
    assert _session_rows(db) == []
    client.cookies.set(COOKIE, session, path="/ui")  # a copy of the cookie kept from before signing out
    r = client.get("/ui")
    assert r.status_code == 401 and "no longer valid" in text_of(r.text, "error")


def test_signing_in_again_ends_the_browsers_previous_session(client: TestClient, tenant: Tenant,
                                                            db: psycopg.Connection[Any]) -> None:
    token = form_token(client)  # the form, as loaded before signing in the first time
    client.post("/ui/sign-in", data={"key": tenant.key, "csrf": token}, follow_redirects=False)
    first = client.cookies.get(COOKIE)
    client.post("/ui/sign-in", data={"key": tenant.key, "csrf": token}, follow_redirects=False)
    assert first and client.cookies.get(COOKIE) != first and len(_session_rows(db)) == 1
    client.cookies.clear()
    client.cookies.set(COOKIE, first, path="/ui")
    assert client.get("/ui").status_code == 401


def test_a_key_keeps_at_most_max_per_key_sessions(tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    """Sign-ins need no API call, so no rate limit bounds them: the key's oldest sessions end instead."""
    key_id = db.execute("SELECT id FROM api_keys").fetchone()[0]
    sessions = [start_session(db, key_id, 3600) for _ in range(MAX_PER_KEY + 5)]
    assert len(_session_rows(db)) == MAX_PER_KEY
    assert session_principal(db, sessions[-1]) is not None and session_principal(db, sessions[0]) is None


def test_sign_out_from_a_sibling_site_is_refused(client: TestClient, tenant: Tenant,
                                                 db: psycopg.Connection[Any]) -> None:
    sign_in(client, tenant.key)
    r = client.post("/ui/sign-out", headers={"sec-fetch-site": "same-site"}, follow_redirects=False)
    assert r.status_code == 403 and len(_session_rows(db)) == 1
    assert client.post("/ui/sign-out", follow_redirects=False).status_code == 303 and _session_rows(db) == []


@pytest.mark.parametrize("end", ["revoke", "expire key", "expire session"])
def test_revoking_or_expiring_ends_the_session(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any],
                                              end: str) -> None:
    sign_in(client, tenant.key)
    assert 'id="freshness"' in client.get("/ui").text
    key_id = client.get("/keys", headers=tenant.headers).json()[0]["id"]
    if end == "revoke":
        r = client.delete(f"/admin/namespaces/alpha/keys/{key_id}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert r.status_code == 200
        assert _session_rows(db) == []
    elif end == "expire key":
        db.execute("UPDATE api_keys SET expires_at = now() - interval '1 second'")
    else:
        db.execute("UPDATE ui_sessions SET expires_at = now() - interval '1 second'")
    r = client.get("/ui")
    assert r.status_code == 401 and "no longer valid" in text_of(r.text, "error")
    assert 'id="freshness"' not in r.text


@pytest.mark.parametrize("csrf, headers", [
    (None, {}),  # a form posted without the page's token
    ("forged-token", {}),
    ("from-the-page", {"sec-fetch-site": "cross-site"}),  # the browser says another site posted it
    ("from-the-page", {"sec-fetch-site": "same-site"}),  # a sibling subdomain could set the token cookie
])
def test_a_sign_in_not_from_this_page_is_refused(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any],
                                                csrf: str | None, headers: dict[str, str]) -> None:
    """Login CSRF: another site must not sign a browser in to a namespace of its choosing."""
    token = form_token(client)
    data = {"key": tenant.key} | ({} if csrf is None else {"csrf": token if csrf == "from-the-page" else csrf})
    r = client.post("/ui/sign-in", data=data, headers=headers, follow_redirects=False)
    assert r.status_code == 403 and "did not come from this page" in text_of(r.text, "error")
    assert COOKIE not in client.cookies and _session_rows(db) == []
    same_site = {"sec-fetch-site": "same-origin"}
    r = client.post("/ui/sign-in", data={"key": tenant.key, "csrf": token}, headers=same_site, follow_redirects=False)
    assert r.status_code == 303  # the page's own form, with its token, signs in


# --- what the page shows ----------------------------------------------------------------------

def test_page_shows_freshness_model_probes_and_alerts(client: TestClient, tenant: Tenant,
                                                      db: psycopg.Connection[Any]) -> None:
    for uri in ("kb://fresh", "kb://old", "kb://older"):
        put(client, tenant, uri, f"The text of {uri}.")
    ns = namespace_id(db, "alpha")
    age(db, ns, "kb://old", 45)
    age(db, ns, "kb://older", 90)
    ferry = add_probe(db, ns, "when does the ferry leave", [1.0, 0.8, 0.6, 0.4], k=3)
    add_probe(db, ns, "museum hours", [0.5, 1.0])
    add_probe(db, ns, "never run", [])
    add_scores(db, ns, [0.9, 0.7, 0.45])
    add_alert(db, ns, "recall of the ferry probe fell to 0.40", ferry)
    sign_in(client, tenant.key)
    html = client.get("/ui").text

    expected = client.get("/freshness", headers=tenant.headers).json()
    assert text_of(html, "score") == f"{expected['score']:.2f}"
    assert "3 documents" in text_of(html, "summary") and text_of(html, "stale-count") == "2 stale"
    body = re.search(r"<tbody>(.*)</tbody>", section(html, "stalest"), re.S)
    assert body
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    uris = [re.search(r'<td class="uri">(.*?)</td>', row).group(1) for row in rows]  # type: ignore[union-attr]
    assert uris == ["kb://older", "kb://old", "kb://fresh"]
    older = expected["worst"][0]
    assert older["source_uri"] == "kb://older" and older["score"] == pytest.approx(0.125, abs=1e-3)
    assert f'<td class="num score">{older["score"]:.2f}</td>' in rows[0]
    assert "90 days ago" in rows[0] and ">stale<" in rows[0]
    assert ">stale<" not in rows[2] and "just now" in rows[2]

    model = section(html, "model")
    assert '<strong class="active">hash-test</strong>' in model and "No migration in progress: all 3 chunks" in model

    probes = re.findall(r'<div class="probe">(.*?)</div>', section(html, "probes"), re.S)
    assert len(probes) == 3
    assert "when does the ferry leave" in probes[0] and "(k = 3)" in probes[0]
    assert probes[0].count('<circle class="point"') == 4 and '<strong class="latest">0.40</strong>' in probes[0]
    assert probes[1].count('<circle class="point"') == 2 and '<strong class="latest">1.00</strong>' in probes[1]
    assert "<svg" not in probes[2] and "Not run yet" in probes[2]
    score = text_of(html, "probe-score")
    assert score.startswith("Namespace probe score: 0.45")
    assert html.count('<circle class="point"') == 4 + 2 + 3

    alerts = section(html, "alerts")
    assert "recall of the ferry probe fell to 0.40" in alerts and "when does the ferry leave" in alerts


def test_an_empty_namespace_renders_its_empty_states(client: TestClient, tenant: Tenant) -> None:
    sign_in(client, tenant.key)
    r = client.get("/ui")
    assert r.status_code == 200
    assert text_of(r.text, "score") == "–" and "No documents yet" in text_of(r.text, "summary")
    assert "No documents." in section(r.text, "stalest")
    assert '<strong class="active">hash-test</strong>' in section(r.text, "model")
    assert "No probes" in section(r.text, "probes") and "<svg" not in r.text
    assert "No alerts." in section(r.text, "alerts")


def test_user_data_is_shown_as_text(client: TestClient, tenant: Tenant, db: psycopg.Connection[Any]) -> None:
    evil = "<script>alert(1)</script>"
    put(client, tenant, f"kb://{evil}", "Some text.")
    ns = namespace_id(db, "alpha")
    probe = add_probe(db, ns, f'"><img src=x onerror=alert(2)>{evil}', [0.5, 0.7])
    add_alert(db, ns, f"</title>{evil}", probe)
    sign_in(client, tenant.key)
    html = client.get("/ui").text
    assert "<script" not in html and "<img" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # uri, probe heading, chart label, alert
    assert "kb://&lt;script&gt;alert(1)&lt;/script&gt;" in section(html, "stalest")
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in section(html, "probes")


def test_characters_that_reorder_or_hide_text_are_shown_as_code_points(client: TestClient, tenant: Tenant,
                                                                       db: psycopg.Connection[Any]) -> None:
    """"invoices/\u202efdp.exe" would read "invoices/exe.pdf" on the page."""
    put(client, tenant, "https://intranet/invoices/\u202efdp.exe", "Invoice archive.")
    add_probe(db, namespace_id(db, "alpha"), "opening hours\u202e\u200b", [0.5])
    sign_in(client, tenant.key)
    html = client.get("/ui").text
    assert "\u202e" not in html and "\u200b" not in html
    assert "invoices/&lt;U+202E&gt;fdp.exe" in section(html, "stalest")
    assert "opening hours&lt;U+202E&gt;&lt;U+200B&gt;" in section(html, "probes")


def test_inline_stylesheet_matches_the_policy_hash(client: TestClient) -> None:
    import base64
    import hashlib

    html = client.get("/ui").text
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style and style.group(1) == CSS
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in HEADERS["Content-Security-Policy"]


# --- tenancy ----------------------------------------------------------------------------------

def test_a_cookie_shows_its_own_namespace_only(client: TestClient, tenant: Tenant, other_tenant: Tenant,
                                               db: psycopg.Connection[Any]) -> None:
    for t, word in ((tenant, "alpha"), (other_tenant, "beta")):
        put(client, t, f"kb://{word}-doc", f"{word} text")
        ns = namespace_id(db, t.name)
        probe = add_probe(db, ns, f"{word} probe query", [0.2, 0.4, 0.6] if word == "alpha" else [0.9])
        add_scores(db, ns, [0.33] if word == "alpha" else [0.77, 0.88])
        add_alert(db, ns, f"{word} alert", probe)
    # beta migrates to another model: it shows on beta's page and nothing of it on alpha's
    db.execute("INSERT INTO embedding_models (name, version, dimension) VALUES ('beta-model', '1', 256)")
    db.execute("UPDATE namespaces SET target_model_id = (INSERT_MODEL) WHERE id = %s".replace(
        "INSERT_MODEL", "SELECT id FROM embedding_models WHERE name = 'beta-model'"), [namespace_id(db, "beta")])
    for me, word, other, points in ((tenant, "alpha", "beta", 3 + 1), (other_tenant, "beta", "alpha", 1 + 2)):
        client.cookies.clear()
        assert sign_in(client, me.key).status_code == 303
        html = client.get("/ui").text
        assert text_of(html, "namespace") == word
        for mine in (f"kb://{word}-doc", f"{word} probe query", f"{word} alert"):
            assert mine in html
        assert other not in html  # no document, probe, alert, model or name of the other namespace
        assert html.count('<circle class="point"') == points
        assert "1 document;" in text_of(html, "summary")
    assert '<strong class="active">hash-test</strong>' in html and "beta-model" in section(html, "model")
    assert "0 of 1 chunks" in section(html, "model")
