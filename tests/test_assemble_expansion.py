"""Neighbour expansion through the HTTP API: a strong hit brings the turn written next to it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from agentmem.api.app import create_app
from agentmem.core.settings import Settings
from conftest import Tenant

WHEN = "2023-05-08T13:56:00+00:00"
# One chat session, one item per turn. The question names turn 2's words; the answer is turn 3,
# which shares none of them.
TURNS = [
    "Anna: How was the weekend?",
    "Ben: We finally bought the aquarium for the turtle, where should the tank go?",
    "Anna: Put it by the north window in the study, away from the radiator.",
    "Ben: Good idea, thanks.",
]
# Distractors that share the query's words, so that without expansion they outrank the answer.
OTHERS = [
    "Turtle tank water should be changed weekly; an aquarium filter helps.",
    "A basking lamp over the turtle tank keeps the aquarium warm enough.",
    "Where should the turtle go in winter? Some owners let the aquarium cool down.",
    "The pet shop sells turtle tank gravel, aquarium plants and food pellets.",
    "Turtles outgrow a small tank fast: plan for a bigger aquarium within a year.",
    "Clean the aquarium glass of the turtle tank with a soft sponge, never soap.",
]


def _ingest(client: TestClient, t: Tenant) -> None:
    docs = [{"source_uri": f"chat:s1/t{i}", "text": text, "source_updated_at": WHEN} for i, text in enumerate(TURNS)]
    docs += [{"source_uri": f"kb:guide/{i}", "text": text} for i, text in enumerate(OTHERS)]
    r = client.post("/documents/batch", json={"documents": docs}, headers=t.headers)
    assert r.status_code == 200, r.text


def _shown(client: TestClient, t: Tenant) -> list[str]:
    r = client.post("/context/assemble", headers=t.headers,
                    json={"query": "where should the turtle aquarium tank go?", "budget_tokens": 200})
    assert r.status_code == 200, r.text
    return [i["source_uri"] for s in r.json()["sections"] for i in s["items"]]


def _shown_with(settings: Settings, embedder: Any, t: Tenant, **knobs: Any) -> list[str]:
    changed = settings.model_copy(update={"assemble_feedback_terms": 0, "assemble_round_two_weight": 0, **knobs})
    with TestClient(create_app(changed, embedder=embedder), raise_server_exceptions=False) as c:
        return _shown(c, t)


def test_a_strong_hit_brings_its_neighbour_into_the_context(
    client: TestClient, tenant: Tenant, settings: Settings, embedder: Any
) -> None:
    _ingest(client, tenant)
    plain = _shown_with(settings, embedder, tenant, assemble_neighbour_anchors=0)
    assert plain[0] == "chat:s1/t1" and "chat:s1/t2" not in plain  # the answer is cut by the budget

    shown = _shown_with(settings, embedder, tenant, assemble_neighbour_anchors=1)
    assert shown[0] == "chat:s1/t1" and set(shown[1:3]) == {"chat:s1/t0", "chat:s1/t2"}  # right after their hit
