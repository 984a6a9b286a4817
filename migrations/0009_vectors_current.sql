-- Whether a chunk's vectors are current, kept as state instead of recomputed on every read.
--
-- A chunk's vectors are current when they were made by the namespace's active model from the
-- chunk's current input (embedding_input(context, text) hashes to embedded_hash). Freshness, the
-- operator page, /metrics and the re-embedding job's hourly check used to re-hash every chunk of a
-- namespace to find out; now triggers record, at every write, re-embedding and model flip, one row
-- per chunk that is NOT current, and readers count those (work proportional to documents and stale
-- chunks, not to chunk text). Triggers rather than application code, so that a chunk changed
-- behind the service's back (an UPDATE by hand) is still seen, as the hash check used to see it.

CREATE TABLE stale_chunks (
    chunk_id       bigint PRIMARY KEY REFERENCES chunks ON DELETE CASCADE,
    document_id    uuid NOT NULL,
    namespace_id   bigint NOT NULL,
    input_changed  boolean NOT NULL,  -- its input no longer hashes to embedded_hash: re-embed in place
    other_model    boolean NOT NULL   -- its vector is not the namespace's active model's
);
CREATE INDEX stale_chunks_document ON stale_chunks (document_id);
CREATE INDEX stale_chunks_namespace ON stale_chunks (namespace_id) INCLUDE (input_changed);

-- The chunks of a statement's transition table that are not current, as stale_chunks rows.
-- (A namespace without an active model yet counts any model as its own; memory/freshness_store.py.)
CREATE FUNCTION chunks_record_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM stale_chunks s USING new_chunks c WHERE s.chunk_id = c.id;
    END IF;
    INSERT INTO stale_chunks (chunk_id, document_id, namespace_id, input_changed, other_model)
    SELECT x.id, x.document_id, x.namespace_id, x.input_changed, x.other_model FROM (
        SELECT c.id, c.document_id, c.namespace_id,
               c.embedded_hash <> embedding_input_hash(c.context, c.text) AS input_changed,
               coalesce(c.embedding_model_id <> n.active_model_id, false) AS other_model
        FROM new_chunks c JOIN namespaces n ON n.id = c.namespace_id
    ) x WHERE x.input_changed OR x.other_model;
    RETURN NULL;
END $$;

CREATE TRIGGER chunks_stale_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION chunks_record_stale();
-- (Transition tables cannot be combined with a column list: every UPDATE of chunks is checked.)
CREATE TRIGGER chunks_stale_update AFTER UPDATE ON chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION chunks_record_stale();

-- A namespace's active model changed (a flip, or its first write adopting the default): which of its
-- chunks are of another model changes with it. Whether an input changed does not: no re-hashing.
CREATE FUNCTION namespaces_record_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stale_chunks s WHERE s.namespace_id = NEW.id AND NOT s.input_changed;
    UPDATE stale_chunks s SET other_model = coalesce(c.embedding_model_id <> NEW.active_model_id, false)
    FROM chunks c WHERE c.id = s.chunk_id AND s.namespace_id = NEW.id;
    INSERT INTO stale_chunks (chunk_id, document_id, namespace_id, input_changed, other_model)
    SELECT c.id, c.document_id, c.namespace_id, false, true FROM chunks c
    WHERE c.namespace_id = NEW.id AND c.embedding_model_id <> NEW.active_model_id
    ON CONFLICT (chunk_id) DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER namespaces_stale_active_model AFTER UPDATE OF active_model_id ON namespaces
    FOR EACH ROW WHEN (OLD.active_model_id IS DISTINCT FROM NEW.active_model_id)
    EXECUTE FUNCTION namespaces_record_stale();

-- Chunks written before this migration: hashed once, here.
INSERT INTO stale_chunks (chunk_id, document_id, namespace_id, input_changed, other_model)
SELECT x.id, x.document_id, x.namespace_id, x.input_changed, x.other_model FROM (
    SELECT c.id, c.document_id, c.namespace_id,
           c.embedded_hash <> embedding_input_hash(c.context, c.text) AS input_changed,
           coalesce(c.embedding_model_id <> n.active_model_id, false) AS other_model
    FROM chunks c JOIN namespaces n ON n.id = c.namespace_id
) x WHERE x.input_changed OR x.other_model;

-- Metadata is stored once, on the document: a copy per chunk let one request write its metadata
-- once per chunk (a 1 MB document has thousands). Search filters test the document's metadata
-- (retrieval/filters.py).
ALTER TABLE chunks DROP COLUMN metadata;
