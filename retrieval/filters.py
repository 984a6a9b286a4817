"""Search filters as data, and their SQL: predicates on the chunk row, or its document's metadata.

Kind and source time are columns of chunks; metadata is stored once per document (migration 0009)
and tested with a correlated EXISTS on the document's primary key, as is a minimum trust (the
namespace's rules, over the document's origin, source_uri and screening state). Both are conditions of the chunk
scan, so the HNSW iterative scan still applies them while it walks the graph (one index probe per
candidate for metadata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from agentmem.memory.provenance import TrustRules, rank, trust_rank_sql


@dataclass(frozen=True)
class TrustFloor:
    """Only items of at least `level` by the namespace's `rules` (memory/provenance.py)."""

    rules: TrustRules
    level: str


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()  # document | summary | fact | preference
    metadata: dict[str, Any] = field(default_factory=dict)  # containment: every pair must match
    updated_from: datetime | None = None  # source_updated_at >= this
    updated_before: datetime | None = None  # source_updated_at < this
    min_trust: TrustFloor | None = None  # None, or a floor of "untrusted": every item

    def is_empty(self) -> bool:
        return not (self.kinds or self.metadata or self.updated_from or self.updated_before or self._floor())

    def _floor(self) -> TrustFloor | None:
        return self.min_trust if self.min_trust is not None and rank(self.min_trust.level) > 0 else None


NO_FILTERS = Filters()


def where(f: Filters, alias: str = "c") -> tuple[sql.Composable, dict[str, Any]]:
    """An SQL fragment starting with AND (or empty), and its parameters."""
    parts: list[sql.Composable] = []
    params: dict[str, Any] = {}
    col = lambda name: sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(name))  # noqa: E731
    if f.kinds:
        parts.append(sql.SQL("{} = ANY(%(f_kinds)s)").format(col("kind")))
        params["f_kinds"] = list(f.kinds)
    if f.metadata:
        parts.append(sql.SQL("EXISTS (SELECT 1 FROM documents fd WHERE fd.id = {} AND fd.metadata @> %(f_meta)s)")
                     .format(col("document_id")))
        params["f_meta"] = Jsonb(f.metadata)
    if f.updated_from is not None:
        parts.append(sql.SQL("{} >= %(f_from)s").format(col("source_updated_at")))
        params["f_from"] = f.updated_from
    if f.updated_before is not None:
        parts.append(sql.SQL("{} < %(f_before)s").format(col("source_updated_at")))
        params["f_before"] = f.updated_before
    if (floor := f._floor()) is not None:  # its rules are literals: a few prefix tests per candidate
        parts.append(sql.SQL("EXISTS (SELECT 1 FROM documents td WHERE td.id = {} AND {} >= {})").format(
            col("document_id"), trust_rank_sql(floor.rules), sql.Literal(rank(floor.level))))
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(parts), params
