"""The operator page in a real headless Chromium: sign in through the form, read what is shown.

The service runs on uvicorn in a thread against the test's database; Playwright drives Debian's
chromium (`make install` installs it; Playwright's own browser download is never used). Every
request the page makes is recorded: all of them must go to the service.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import httpx
import psycopg
import pytest

from agentmem.api.in_thread import Running, make_tenant, serve
from hash_embedder import HashEmbedder
from ui_seed import add_alert, add_probe, add_scores, age, namespace_id

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
HOW_TO_INSTALL = ("Debian's chromium is needed for the browser test: run `make install` as root (it runs"
                  " `apt-get install chromium`), or `sudo apt-get install chromium`. Set AGENTMEM_SKIP_BROWSER=1 to"
                  " skip this test knowingly.")


def chromium_path() -> str:
    """Where chromium is; fails the test (skips only when AGENTMEM_SKIP_BROWSER=1) if it is missing."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("AGENTMEM_SKIP_BROWSER") == "1":
            pytest.skip("AGENTMEM_SKIP_BROWSER=1 and chromium is not installed")
        pytest.fail(f"chromium not found on PATH. {HOW_TO_INSTALL}", pytrace=False)
    return path


@pytest.fixture
def service(fresh_db: str) -> Iterator[Running]:
    with serve(fresh_db, HashEmbedder()) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    if os.environ.get("AGENTMEM_SKIP_BROWSER") == "1":
        pytest.skip("AGENTMEM_SKIP_BROWSER=1")
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: run `make install` (it is in the test extra)", pytrace=False)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def _seed(service: Running, db: psycopg.Connection[Any]) -> str:
    """Namespace 'acme': four documents (two aged, one stale past its interval), two probes, scores, an alert."""
    headers = make_tenant(service, "acme")
    with httpx.Client(base_url=service.base_url, headers=headers, timeout=60) as api:
        for uri in ("kb://ferry", "kb://museum", "kb://tram", "kb://<script>alert(1)</script>"):
            api.put("/documents", json={"source_uri": uri, "text": f"What {uri} says."}).raise_for_status()
    ns = namespace_id(db, "acme")
    age(db, ns, "kb://tram", 90)
    age(db, ns, "kb://museum", 20)
    ferry = add_probe(db, ns, "when does the ferry leave", [1.0, 1.0, 0.8, 0.6, 0.4], k=3)
    add_probe(db, ns, "museum opening hours", [0.5, 1.0, 1.0])
    add_scores(db, ns, [0.9, 0.7])
    add_alert(db, ns, "Recall of probe 'when does the ferry leave' fell to 0.40", ferry)
    make_tenant(service, "other")  # a second namespace whose key must not be confused with acme's
    return headers["Authorization"].removeprefix("Bearer ")


def test_operator_signs_in_and_sees_the_namespace(service: Running, browser: Any,
                                                  db: psycopg.Connection[Any]) -> None:
    key = _seed(service, db)
    freshness = httpx.get(f"{service.base_url}/freshness", headers={"Authorization": f"Bearer {key}"}).json()
    page = browser.new_page()
    requests: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    # Signed out: the form. A wrong key shows it again with the error, and no page.
    page.goto(f"{service.base_url}/ui")
    assert page.locator("#freshness").count() == 0
    page.fill("#key", "amk_wrong-key")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert "not a key of any namespace" in page.inner_text("#error")
    assert page.locator("#freshness").count() == 0

    # The right key, through the same form.
    page.fill("#key", key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url == f"{service.base_url}/ui"
    assert page.inner_text("#namespace") == "acme"
    assert page.inner_text("#score") == f"{freshness['score']:.2f}"
    assert page.inner_text("#doc-count") == "4" and page.inner_text("#stale-count") == "1 stale"

    rows = page.locator("#documents tbody tr")
    assert rows.count() == 4
    first = rows.nth(0)
    assert first.locator("td.uri").inner_text() == "kb://tram"
    assert first.locator("td.mark").inner_text() == "stale"
    assert "90 days ago" in first.inner_text()
    assert rows.nth(1).locator("td.uri").inner_text() == "kb://museum" and rows.nth(1).locator("td.mark").inner_text() == ""
    # A URI holding markup is shown as text; it did not become an element.
    uris = [rows.nth(i).locator("td.uri").inner_text() for i in range(4)]
    assert "kb://<script>alert(1)</script>" in uris
    assert page.locator("main script").count() == 0 and page.locator("script").count() == 0

    assert page.inner_text("#model .active") == "hash-test"
    assert "No migration in progress: all 4 chunks use it" in page.inner_text("#model")

    probes = page.locator(".probes .probe")
    assert probes.count() == 2
    ferry, museum = probes.nth(0), probes.nth(1)
    assert ferry.locator(".query").inner_text() == "when does the ferry leave"
    assert ferry.locator(".latest").inner_text() == "0.40"
    assert ferry.locator("svg.chart circle.point").count() == 5
    assert ferry.locator("svg.chart circle.point").evaluate_all("cs => cs.map(c => c.dataset.value)") == [
        "1.000", "1.000", "0.800", "0.600", "0.400"]
    assert museum.locator("svg.chart circle.point").count() == 3 and museum.locator(".latest").inner_text() == "1.00"
    ys = [float(v) for v in ferry.locator("circle.point").evaluate_all("cs => cs.map(c => c.getAttribute('cy'))")]
    assert ys == sorted(ys) and ys[0] < ys[-1]  # falling recall: each point drawn lower (SVG y grows down)
    assert page.locator("#probe-score svg.chart circle.point").count() == 2
    assert "0.70" in page.inner_text("#probe-score")
    assert "fell to 0.40" in page.inner_text("#alerts") and "when does the ferry leave" in page.inner_text("#alerts")

    # The stylesheet was applied (the policy allows it by hash), the key is nowhere on the page.
    assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"
    assert key not in page.content()
    assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable by the page

    # Signing out returns to the form.
    with page.expect_navigation():
        page.click("header button[type=submit]")
    assert page.locator("#key").count() == 1 and page.locator("#freshness").count() == 0

    assert requests, "no request was recorded"
    elsewhere = [u for u in requests if not u.startswith(f"{service.base_url}/")]
    assert not elsewhere, f"the page made requests outside the service: {elsewhere}"
    # Only the wrong key's 401 is logged: no resource was blocked by the content security policy.
    assert [e for e in console_errors if "status of 401" not in e] == [], console_errors
    assert len(console_errors) == 1


def test_missing_chromium_fails_saying_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("AGENTMEM_SKIP_BROWSER", raising=False)
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        chromium_path()
    monkeypatch.setenv("AGENTMEM_SKIP_BROWSER", "1")
    with pytest.raises(pytest.skip.Exception):
        chromium_path()
