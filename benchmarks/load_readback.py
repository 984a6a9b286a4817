"""The load benchmark's ledger of writes, and the readback of every acknowledged one after the run.

A document may be written several times (by one client at a time, in order): the last acknowledged
text is what must be stored, unless a later write that got no answer (a time-out) landed after it;
that case is counted apart. Scratchpad entries are checked by id: content and citations.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class DocWrites:
    """The writes of one document (namespace, source_uri), in the order one client sent them."""

    namespace: str
    acked: int = 0
    id: str | None = None
    text: str | None = None  # of the last acknowledged write
    unacked: list[str] = field(default_factory=list)  # texts whose write got no 2xx: they may still land


@dataclass
class Ledger:
    """Every write sent, so that the acknowledged ones can be read back after the run."""

    docs: dict[tuple[str, str], DocWrites] = field(default_factory=dict)
    entries: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    unacked_entries: int = 0

    def document(self, namespace: str, doc: dict[str, Any], item: dict[str, Any] | None) -> None:
        w = self.docs.setdefault((namespace, doc["source_uri"]), DocWrites(namespace))
        if item is not None and item.get("id") and item.get("status") in ("created", "updated", "unchanged"):
            w.acked, w.id, w.text = w.acked + 1, str(item["id"]), doc["text"]
        else:
            w.unacked.append(doc["text"])

    def entry(self, body: dict[str, Any], answer: dict[str, Any] | None) -> None:
        if answer is not None and answer.get("id"):
            self.entries[str(answer["id"])] = (body["content"], body["citations"])
        else:
            self.unacked_entries += 1


async def _get(http: httpx.AsyncClient, path: str, attempts: int = 20) -> httpx.Response:
    """GET, honouring 429/503 as the agents do (sleep Retry-After, resend): a readback with more
    workers than the namespace's in-flight limit is refused, not wrong."""
    for _ in range(attempts - 1):
        r = await http.get(path)
        if r.status_code not in (429, 503):
            return r
        await asyncio.sleep(float(r.headers.get("Retry-After", "1")))
    return await http.get(path)


async def readback(base_url: str, headers: dict[str, dict[str, str]], task_id: str, ledger: Ledger,
                   workers: int = 4) -> dict[str, Any]:
    """Read every acknowledged write back and compare it with what was sent."""
    out = {"acknowledged": sum(w.acked for w in ledger.docs.values()) + len(ledger.entries),
           "documents_checked": 0, "entries_checked": len(ledger.entries), "missing": 0, "mismatched": 0,
           "superseded_by_unacknowledged": 0, "errors": 0, "unacknowledged_writes":
           sum(len(w.unacked) for w in ledger.docs.values()) + ledger.unacked_entries, "examples": []}
    todo = [w for w in ledger.docs.values() if w.id is not None]
    out["documents_checked"] = len(todo)

    def problem(kind: str, what: str) -> None:
        out[kind] += 1
        if len(out["examples"]) < 10:
            out["examples"].append(f"{kind}: {what}")

    async def check_docs(share: list[DocWrites]) -> None:
        clients = {ns: httpx.AsyncClient(base_url=base_url, headers=h, timeout=120) for ns, h in headers.items()}
        try:
            for w in share:
                try:
                    r = await _get(clients[w.namespace], f"/documents/{w.id}")
                except httpx.HTTPError as exc:
                    problem("errors", f"GET /documents/{w.id}: {type(exc).__name__}")
                    continue
                if r.status_code == 404:
                    problem("missing", f"document {w.id} ({w.namespace})")
                elif r.status_code != 200:
                    problem("errors", f"GET /documents/{w.id}: {r.status_code}")
                elif r.json()["text"] == w.text:
                    pass
                elif r.json()["text"] in w.unacked:
                    out["superseded_by_unacknowledged"] += 1
                else:
                    problem("mismatched", f"document {w.id} ({w.namespace}) text differs")
        finally:
            for c in clients.values():
                await c.aclose()

    await asyncio.gather(*(check_docs(todo[i::workers]) for i in range(workers)))
    async with httpx.AsyncClient(base_url=base_url, headers=headers["agents"], timeout=300) as http:
        r = await _get(http, f"/tasks/{task_id}/scratchpad")
        if r.status_code != 200:
            problem("errors", f"GET scratchpad: {r.status_code} {r.text[:200]}")
            return out
        stored = {e["id"]: e for e in r.json()}
    for entry_id, (content, citations) in ledger.entries.items():
        e = stored.get(entry_id)
        if e is None:
            problem("missing", f"scratchpad entry {entry_id}")
        elif e["content"] != content or e["citations"] != citations:
            problem("mismatched", f"scratchpad entry {entry_id} differs")
    return out
