-- Hybrid retrieval: BM25 term statistics kept inside PostgreSQL, and filter columns on chunks.
--
-- BM25 needs, per namespace, the number of chunks N and their average length, and per term its
-- document frequency; per chunk, the term frequencies and the length. Triggers keep them exact on
-- every insert and delete of chunks (COPY included), whatever code path wrote them.

-- Per-namespace retrieval defaults (strategy, rrf_k, weights), overridable per request.
ALTER TABLE namespaces ADD COLUMN retrieval jsonb NOT NULL DEFAULT '{}';

-- Filters are evaluated on chunks alone (no join), so the HNSW iterative scan can apply them.
ALTER TABLE chunks ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE chunks ADD COLUMN source_updated_at timestamptz;

-- BM25's document length: lexeme occurrences, stop words excluded (as in the query side).
CREATE FUNCTION tsvector_length_total(v tsvector) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(sum(coalesce(array_length(positions, 1), 1)), 0)::integer FROM unnest(v)
$$;

CREATE TABLE namespace_stats (
    namespace_id  bigint PRIMARY KEY REFERENCES namespaces ON DELETE CASCADE,
    chunks        bigint NOT NULL DEFAULT 0,
    total_terms   bigint NOT NULL DEFAULT 0
);

-- The inverted index: one row per (term, chunk), with the term's frequency in the chunk and the
-- chunk's length (copied here so scoring never touches the chunks table).
CREATE TABLE chunk_terms (
    namespace_id  bigint NOT NULL,
    lexeme        text NOT NULL,
    chunk_id      bigint NOT NULL REFERENCES chunks ON DELETE CASCADE,
    tf            integer NOT NULL,
    dl            integer NOT NULL,
    PRIMARY KEY (namespace_id, lexeme, chunk_id)
);
CREATE INDEX chunk_terms_chunk ON chunk_terms (chunk_id);

CREATE FUNCTION chunks_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chunk_terms (namespace_id, lexeme, chunk_id, tf, dl)
    SELECT n.namespace_id, t.lexeme, n.id, coalesce(array_length(t.positions, 1), 1), tsvector_length_total(n.tsv)
    FROM new_chunks n, unnest(n.tsv) AS t;
    INSERT INTO namespace_stats AS s (namespace_id, chunks, total_terms)
    SELECT namespace_id, count(*), coalesce(sum(tsvector_length_total(tsv)), 0) FROM new_chunks GROUP BY namespace_id
    ON CONFLICT (namespace_id) DO UPDATE
        SET chunks = s.chunks + excluded.chunks, total_terms = s.total_terms + excluded.total_terms;
    RETURN NULL;
END $$;

CREATE FUNCTION chunks_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE namespace_stats s
    SET chunks = s.chunks - d.n, total_terms = s.total_terms - d.terms
    FROM (SELECT namespace_id, count(*) AS n, coalesce(sum(tsvector_length_total(tsv)), 0) AS terms
          FROM old_chunks GROUP BY namespace_id) d
    WHERE s.namespace_id = d.namespace_id;
    RETURN NULL;
END $$;

-- Chunks written before this migration.
INSERT INTO chunk_terms (namespace_id, lexeme, chunk_id, tf, dl)
SELECT c.namespace_id, t.lexeme, c.id, coalesce(array_length(t.positions, 1), 1), tsvector_length_total(c.tsv)
FROM chunks c, unnest(c.tsv) AS t;
INSERT INTO namespace_stats (namespace_id, chunks, total_terms)
SELECT namespace_id, count(*), coalesce(sum(tsvector_length_total(tsv)), 0) FROM chunks GROUP BY namespace_id;
UPDATE chunks c SET metadata = d.metadata, source_updated_at = d.source_updated_at
FROM documents d WHERE d.id = c.document_id;

CREATE TRIGGER chunks_terms_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION chunks_after_insert();
CREATE TRIGGER chunks_terms_delete AFTER DELETE ON chunks
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION chunks_after_delete();

-- Every assemble call leaves a trace: what the model was shown, and why the rest was left out.
CREATE TABLE assemble_traces (
    trace_id      uuid PRIMARY KEY,
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    task_id       uuid,
    query         text NOT NULL,
    budget_tokens integer NOT NULL,
    tokens        integer NOT NULL,
    included      jsonb NOT NULL,
    dropped       jsonb NOT NULL,
    timings_ms    jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assemble_traces_namespace ON assemble_traces (namespace_id, created_at);
