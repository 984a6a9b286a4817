-- Chunk postings keyed by document. Keyword search (retrieval/doc_bm25.py) ranks documents first and
-- scores passages only in the best of them; without the document in the index it read every posting
-- of every query term, scored every matching chunk, and listed every chunk of its best documents to
-- find theirs. With (namespace, lexeme, document) leading the key, a best document's postings of a
-- term are one index range: at 100k chunks keyword_hits went from 12.7 to 5.4 ms p50 (`bench scale`),
-- with the same results (docs/retrieval.md).
-- The table is rebuilt (one pass over chunk_terms joined to chunks): on a large database this
-- migration takes as long as writing the postings again, and chunk_terms is locked meanwhile.
CREATE TABLE chunk_terms_by_document AS
    SELECT ct.namespace_id, ct.lexeme, c.document_id, ct.chunk_id, ct.tf, ct.dl
    FROM chunk_terms ct JOIN chunks c ON c.id = ct.chunk_id;
DROP TABLE chunk_terms;
ALTER TABLE chunk_terms_by_document RENAME TO chunk_terms;
ALTER TABLE chunk_terms
    ALTER COLUMN tf SET NOT NULL,
    ALTER COLUMN dl SET NOT NULL,
    ADD CONSTRAINT chunk_terms_pkey PRIMARY KEY (namespace_id, lexeme, document_id, chunk_id) INCLUDE (tf, dl),
    ADD CONSTRAINT chunk_terms_chunk_id_fkey FOREIGN KEY (chunk_id) REFERENCES chunks ON DELETE CASCADE;
CREATE INDEX chunk_terms_chunk ON chunk_terms (chunk_id);
ALTER TABLE chunk_terms SET (autovacuum_vacuum_insert_scale_factor = 0.01);
ANALYZE chunk_terms;  -- autovacuum soon marks the new pages all-visible (index-only scans) as well

CREATE OR REPLACE FUNCTION chunks_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chunk_terms (namespace_id, lexeme, document_id, chunk_id, tf, dl)
    SELECT n.namespace_id, t.lexeme, n.document_id, n.id, coalesce(array_length(t.positions, 1), 1),
           tsvector_length_total(n.tsv)
    FROM new_chunks n, unnest(n.tsv) AS t;
    INSERT INTO namespace_stats AS s (namespace_id, chunks, total_terms)
    SELECT namespace_id, count(*), coalesce(sum(tsvector_length_total(tsv)), 0) FROM new_chunks GROUP BY namespace_id
    ON CONFLICT (namespace_id) DO UPDATE
        SET chunks = s.chunks + excluded.chunks, total_terms = s.total_terms + excluded.total_terms;
    RETURN NULL;
END $$;

-- A document's first chunk (its representative in keyword search when no chunk matches) in one
-- index probe: the chunks by document, ordered by id, from the index alone (replaces 0017's index,
-- which had the id as a payload, not a key).
CREATE INDEX chunks_document_first ON chunks (document_id, id);
DROP INDEX chunks_document_chunk;
