"""The chunks adjacent to a few hits, by index: never a scan of the namespace. I/O around expansion.py.

For each anchor chunk, its document's chunks at ord - 1 and ord + 1 (the unique (document_id, ord)
key) and the namespace's chunks written just before and after it (chunks_namespace_order). Which of
those count as adjacent is expansion.adjacent's to decide; the caller's filters and the query's
model apply to neighbours as to any hit.
"""

from __future__ import annotations

from typing import Any, Sequence

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from agentmem.retrieval.expansion import Place, adjacent
from agentmem.retrieval.filters import NO_FILTERS, Filters, where
from agentmem.retrieval.search import HIT_COLUMNS, Hit

_SQL = """
WITH a AS (SELECT c.id, c.document_id, c.ord FROM chunks c WHERE c.namespace_id = %(ns)s AND c.id = ANY(%(ids)s)),
n AS (
    SELECT a.id AS anchor, x.id FROM a CROSS JOIN LATERAL (
        SELECT a.id
        UNION ALL (SELECT c.id FROM chunks c WHERE c.namespace_id = %(ns)s AND c.id < a.id ORDER BY c.id DESC LIMIT 1)
        UNION ALL (SELECT c.id FROM chunks c WHERE c.namespace_id = %(ns)s AND c.id > a.id ORDER BY c.id LIMIT 1)
        UNION ALL SELECT c.id FROM chunks c WHERE c.document_id = a.document_id AND c.ord IN (a.ord - 1, a.ord + 1)
    ) x
)
SELECT DISTINCT ON (n.anchor, c.id) n.anchor, {cols}, 0.0::float8 AS score, c.ord,
    NOT EXISTS (SELECT 1 FROM chunks y WHERE y.document_id = c.document_id AND y.ord <> c.ord) AS single
FROM n JOIN chunks c ON c.id = n.id JOIN documents d ON d.id = c.document_id
WHERE c.embedding_model_id = {model}{cond}
"""

_HIT_FIELDS = tuple(Hit.__dataclass_fields__)


def neighbour_hits(conn: psycopg.Connection[Any], namespace_id: int, model_id: int, anchors: Sequence[int],
                   window_hours: float, filters: Filters = NO_FILTERS) -> dict[int, list[Hit]]:
    """Each anchor chunk id's adjacent chunks (before, then after), as hits with score 0."""
    if not anchors:
        return {}
    cond, params = where(filters)
    statement = sql.SQL(_SQL).format(cols=sql.SQL(HIT_COLUMNS), model=sql.Literal(model_id), cond=cond)
    rows = conn.cursor(row_factory=dict_row, binary=True).execute(
        statement, params | {"ns": namespace_id, "ids": list(anchors)}).fetchall()
    places: dict[int, Place] = {}
    hits: dict[int, Hit] = {}
    by_anchor: dict[int, list[int]] = {}
    for row in rows:
        cid = row["chunk_id"]
        places[cid] = Place(cid, row["document_id"], row["ord"], row["single"], row["source_uri"],
                            row["source_updated_at"])
        hits[cid] = Hit(**{f: row[f] for f in _HIT_FIELDS})
        by_anchor.setdefault(row["anchor"], []).append(cid)
    out: dict[int, list[Hit]] = {}
    for anchor in anchors:
        if anchor not in places:  # filtered out, or gone since the search
            continue
        near = [c for c in by_anchor.get(anchor, ()) if c != anchor and adjacent(places[anchor], places[c], window_hours)]
        out[anchor] = [hits[c] for c in sorted(near)]
    return out
