"""memory/provenance.py: who may declare which origin, how trust follows from the rules, and that the SQL
form of the rules agrees with the Python one (on a real database)."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from agentmem.core.errors import Conflict, Forbidden, InvalidInput
from agentmem.memory.provenance import (
    NO_RULES,
    ORIGINS,
    at_least,
    declared_origin,
    dedup_order,
    lower_trust_write,
    origins_at_least,
    parse_rules,
    rank,
    trust_of,
    trust_rank_sql,
)
from agentmem.retrieval.dedup import near_duplicates

RULES = parse_rules({
    "sources": [{"prefix": "https://", "trust": "untrusted"},
                {"prefix": "kb://", "trust": "verified"},
                {"prefix": "kb://policies/", "trust": "trusted", "origins": ["operator"]}],
    "origins": {"operator": "trusted", "tool": "verified"},
})


def test_default_origin_follows_the_keys_role() -> None:
    assert declared_origin("operator", None) == "operator"
    assert declared_origin("agent", None) == "agent"
    assert [declared_origin("agent", o) for o in ORIGINS[1:]] == list(ORIGINS[1:])
    assert declared_origin("operator", "web") == "web"


def test_an_agent_key_cannot_declare_operator() -> None:
    with pytest.raises(Forbidden, match="only an operator key may declare origin 'operator'"):
        declared_origin("agent", "operator")
    with pytest.raises(InvalidInput):
        declared_origin("operator", "admin")


def test_longest_prefix_wins_then_origin_then_untrusted() -> None:
    assert trust_of(RULES, "kb://policies/travel", "operator") == "trusted"  # the longest matching rule
    assert trust_of(RULES, "kb://policies/travel", "agent") == "verified"  # that rule names operators only
    assert trust_of(RULES, "kb://notes", "operator") == "verified"  # a source rule beats the origin's level
    assert trust_of(RULES, "https://blog.example", "operator") == "untrusted"
    assert trust_of(RULES, "memory:1", "operator") == "trusted"  # no source rule: the origin's
    assert trust_of(RULES, "memory:1", "tool") == "verified"
    assert trust_of(RULES, "memory:1", "web") == "untrusted"  # neither: untrusted
    assert trust_of(RULES, None, "operator") == "trusted"  # scratchpad: origin alone
    assert trust_of(NO_RULES, "kb://x", "operator") == "untrusted"  # no rules: nothing is trusted


def test_a_flagged_item_is_never_above_untrusted() -> None:
    assert trust_of(RULES, "kb://policies/travel", "operator", flagged=True) == "untrusted"


def test_rules_are_checked() -> None:
    with pytest.raises(InvalidInput, match=r"sources\[0\].trust"):
        parse_rules({"sources": [{"prefix": "kb://", "trust": "high"}]})
    with pytest.raises(InvalidInput, match="same prefix"):
        parse_rules({"sources": [{"prefix": "kb://", "trust": "trusted"}, {"prefix": "kb://", "trust": "verified"}]})
    with pytest.raises(InvalidInput, match="origins"):
        parse_rules({"origins": {"robot": "trusted"}})
    assert parse_rules(RULES.as_json()) == RULES  # stored form round-trips


def test_minimum_and_origin_filters() -> None:
    assert at_least("verified", None) and at_least("trusted", "verified") and not at_least("untrusted", "verified")
    assert origins_at_least(RULES, "verified") == ["operator", "tool"]
    assert rank("untrusted") < rank("verified") < rank("trusted")


def test_a_lower_trust_write_is_a_conflict() -> None:
    lower_trust_write("untrusted", "trusted", "kb://a", "agent", "operator")  # raising trust: fine
    lower_trust_write("verified", "verified", "kb://a", "tool", "agent")
    with pytest.raises(Conflict, match="holds a trusted item"):
        lower_trust_write("trusted", "untrusted", "kb://a", "operator", "agent")


def test_near_duplicates_keep_the_higher_trust_one() -> None:
    v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    texts = ["Venue A costs 6,000 EUR.", "Venue A costs 6,000 EUR!", "Hotel B"]
    assert near_duplicates(texts, v, 0.95) == [None, 0, None]  # rank order alone: the first is kept
    order = dedup_order(["untrusted", "trusted", "untrusted"])
    assert near_duplicates(texts, v, 0.95, order=order) == [1, None, None]  # the trusted second one is kept


def test_the_sql_rank_agrees_with_trust_of(db: psycopg.Connection[Any]) -> None:
    """The retrievers filter by the SQL form: it must rank every case as trust_of does."""
    query = sql.SQL("SELECT {} FROM (SELECT %s AS source_uri, %s AS origin, %s AS screening) td").format(
        trust_rank_sql(RULES, "td"))
    cases = [(s, o, f) for s in ["kb://policies/travel", "kb://notes", "https://x", "memory:1", "kb:/", "KB://notes"]
             for o in ORIGINS for f in ["clean", "flagged", "released"]]
    for source, origin, screening in cases:
        [got] = db.execute(query, (source, origin, screening)).fetchone()  # type: ignore[misc]
        assert got == rank(trust_of(RULES, source, origin, screening == "flagged")), (source, origin, screening)
    assert db.execute(sql.SQL("SELECT {} FROM (SELECT 'kb://x' AS source_uri, 'operator' AS origin,"
                              " 'clean' AS screening) td").format(trust_rank_sql(NO_RULES))).fetchone() == (0,)
