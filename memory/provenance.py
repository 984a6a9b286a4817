"""Origins and trust levels: who may declare which origin, and how an item's trust follows from the
operator's rules. Pure: no I/O.

Every stored item records the origin its writer declared (`operator`, `agent`, `tool`, `web`, `user`)
within what its key's role allows: an operator key may declare any (default `operator`); an agent key
any but `operator` (default `agent`). Trust levels, lowest first: `untrusted` < `verified` < `trusted`.
`quarantined` is not a level but a screening state: such items are never retrieved at all.

An item's trust is computed when it is read, from its origin, its source_uri and the namespace's rules
(PUT /settings/trust): the longest source prefix rule that matches (and whose `origins`, if it names
some, include the item's) decides; else the origin's default; else `untrusted`. A rule change therefore
holds at once, with no row rewritten, and the work per item is a few prefix tests. An item the screener
flagged (on write or on read) is never above `untrusted`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from agentmem.core.errors import Conflict, Forbidden, InvalidInput

ORIGINS = ("operator", "agent", "tool", "web", "user")
LEVELS = ("untrusted", "verified", "trusted")  # lowest first
UNTRUSTED = LEVELS[0]
MAX_RULES = 100


def rank(level: str) -> int:
    return LEVELS.index(level)


def default_origin(role: str) -> str:
    """What a write declares when it declares nothing: its key's role."""
    return "operator" if role == "operator" else "agent"


def declared_origin(role: str, origin: str | None) -> str:
    """The origin a write records: the declared one if the key's role allows it, else Forbidden."""
    if origin is None:
        return default_origin(role)
    if origin not in ORIGINS:
        raise InvalidInput(f"origin {origin!r} is not one of {', '.join(ORIGINS)}")
    if origin == "operator" and role != "operator":
        raise Forbidden(f"only an operator key may declare origin 'operator'; this key's role is {role!r}: "
                        f"declare one of {', '.join(ORIGINS[1:])}, or write with an operator key")
    return origin


@dataclass(frozen=True)
class SourceRule:
    prefix: str
    trust: str
    origins: tuple[str, ...] = ()  # empty: any origin

    def matches(self, source_uri: str, origin: str) -> bool:
        return source_uri.startswith(self.prefix) and (not self.origins or origin in self.origins)


@dataclass(frozen=True)
class TrustRules:
    """A namespace's rules; `sources` longest prefix first (the order they are tried in)."""

    sources: tuple[SourceRule, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"sources": [{"prefix": r.prefix, "trust": r.trust, **({"origins": list(r.origins)} if r.origins else {})}
                            for r in self.sources],
                "origins": dict(self.origins)}


NO_RULES = TrustRules()


def parse_rules(raw: Mapping[str, Any] | None) -> TrustRules:
    """Rules from their stored (or requested) JSON; InvalidInput naming what to fix."""
    if not raw:
        return NO_RULES
    sources: list[SourceRule] = []
    for n, r in enumerate(raw.get("sources") or []):
        level, origins = r.get("trust"), tuple(r.get("origins") or ())
        if level not in LEVELS:
            raise InvalidInput(f"sources[{n}].trust must be one of {', '.join(LEVELS)}, not {level!r}")
        if not isinstance(r.get("prefix"), str):
            raise InvalidInput(f"sources[{n}].prefix must be a string")
        if bad := [o for o in origins if o not in ORIGINS]:
            raise InvalidInput(f"sources[{n}].origins: {bad} not among {', '.join(ORIGINS)}")
        sources.append(SourceRule(r["prefix"], level, origins))
    if len(sources) > MAX_RULES:
        raise InvalidInput(f"at most {MAX_RULES} source rules; merge some by a shorter prefix")
    keys = [(s.prefix, s.origins) for s in sources]
    if len(set(keys)) != len(keys):
        raise InvalidInput("two source rules have the same prefix (and origins); keep one")
    origins = dict(raw.get("origins") or {})
    for o, level in origins.items():
        if o not in ORIGINS or level not in LEVELS:
            raise InvalidInput(f"origins: {o!r}: {level!r} must map one of {', '.join(ORIGINS)} "
                               f"to one of {', '.join(LEVELS)}")
    # Longest prefix first; at equal length, a rule naming origins before one for any origin.
    ordered = sorted(sources, key=lambda s: (-len(s.prefix), not s.origins))
    return TrustRules(tuple(ordered), origins)


def trust_of(rules: TrustRules, source_uri: str | None, origin: str, flagged: bool = False) -> str:
    """An item's trust level. `source_uri` None (scratchpad entries): by origin alone."""
    if flagged:
        return UNTRUSTED
    if source_uri is not None:
        for r in rules.sources:
            if r.matches(source_uri, origin):
                return r.trust
    return rules.origins.get(origin, UNTRUSTED)


def at_least(level: str, minimum: str | None) -> bool:
    return minimum is None or rank(level) >= rank(minimum)


def origins_at_least(rules: TrustRules, minimum: str) -> list[str]:
    """The origins whose items without a source rule reach `minimum`: the scratchpad's filter."""
    return [o for o in ORIGINS if at_least(rules.origins.get(o, UNTRUSTED), minimum)]


def higher(a: str, b: str) -> bool:
    return rank(a) > rank(b)


def lower_trust_write(old_trust: str, new_trust: str, source_uri: str, old_origin: str, new_origin: str) -> None:
    """Conflict (409) when a write would replace an item by one of lower trust: a lower-trust origin must
    not displace what a higher-trust one wrote under the same source_uri."""
    if higher(old_trust, new_trust):
        raise Conflict(
            f"{source_uri!r} holds a {old_trust} item (origin {old_origin!r}); this write (origin {new_origin!r})"
            f" would be {new_trust}: write it under another source_uri, or have an operator key replace it")


def dedup_order(levels: Sequence[str]) -> list[int]:
    """Indices of ranked candidates in the order near-duplicates are resolved: higher trust first, then
    rank order; so of two near-duplicates the higher-trust one is kept (retrieval/dedup.py)."""
    return sorted(range(len(levels)), key=lambda i: -rank(levels[i]))


def trust_rank_sql(rules: TrustRules, alias: str = "td") -> sql.Composable:
    """The rank of trust_of(...) as an SQL expression over a documents row `alias`: the same rules in the
    same order, so that a minimum trust filters candidates inside the retrievers (before their top n)."""
    col = lambda name: sql.Identifier(alias, name)
    whens: list[sql.Composable] = [sql.SQL("WHEN {} IN ('flagged', 'quarantined') THEN 0").format(col("screening"))]
    for r in rules.sources:
        cond = sql.SQL("starts_with({}, {})").format(col("source_uri"), sql.Literal(r.prefix))
        if r.origins:
            cond = sql.SQL("{} AND {} = ANY({})").format(cond, col("origin"), sql.Literal(list(r.origins)))
        whens.append(sql.SQL("WHEN {} THEN {}").format(cond, sql.Literal(rank(r.trust))))
    for origin, level in rules.origins.items():
        whens.append(sql.SQL("WHEN {} = {} THEN {}").format(col("origin"), sql.Literal(origin), sql.Literal(rank(level))))
    return sql.SQL("(CASE {} ELSE 0 END)").format(sql.SQL(" ").join(whens))
