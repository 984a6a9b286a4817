"""Search filters as data, and their SQL: predicates on the chunk row, or its document's metadata.

Kind and source time are columns of chunks; metadata is stored once per document (migration 0009)
and tested with a correlated EXISTS on the document's primary key. Both are conditions of the chunk
scan, so the HNSW iterative scan still applies them while it walks the graph (one index probe per
candidate for metadata).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class Filters:
    kinds: tuple[str, ...] = ()  # document | summary | fact | preference
    metadata: dict[str, Any] = field(default_factory=dict)  # containment: every pair must match
    updated_from: datetime | None = None  # source_updated_at >= this
    updated_before: datetime | None = None  # source_updated_at < this

    def is_empty(self) -> bool:
        return not (self.kinds or self.metadata or self.updated_from or self.updated_before)


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
    if not parts:
        return sql.SQL(""), params
    return sql.SQL(" AND ") + sql.SQL(" AND ").join(parts), params
