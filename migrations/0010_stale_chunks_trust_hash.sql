-- Stale-chunk bookkeeping (0009) without re-hashing what the writer just hashed.
--
-- 0009's triggers hashed every inserted or updated chunk's input in SQL, although the service
-- computes that very hash in Python (embeddings.models.input_hash) and stores it as embedded_hash
-- in the same row: a batch of 100 long documents was hashed twice. Now:
-- * INSERT trusts embedded_hash (a chunk is inserted with the vector of the input it hashed), and
--   only checks the model;
-- * UPDATE hashes only the rows whose text, context or embedded_hash changed (an edit behind the
--   service's back, a re-embedding); other rows keep the input state they had (e.g. an UPDATE of
--   source_updated_at, or of the model at a flip, hashes nothing).

CREATE FUNCTION chunks_record_stale_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stale_chunks (chunk_id, document_id, namespace_id, input_changed, other_model)
    SELECT c.id, c.document_id, c.namespace_id, false, true
    FROM new_chunks c JOIN namespaces n ON n.id = c.namespace_id
    WHERE c.embedding_model_id <> n.active_model_id;
    RETURN NULL;
END $$;

CREATE FUNCTION chunks_record_stale_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH x AS MATERIALIZED (
        SELECT c.id, c.document_id, c.namespace_id,
               CASE WHEN (c.text, c.context, c.embedded_hash) IS NOT DISTINCT FROM (o.text, o.context, o.embedded_hash)
                    THEN coalesce(s.input_changed, false)
                    ELSE c.embedded_hash <> embedding_input_hash(c.context, c.text) END AS input_changed,
               coalesce(c.embedding_model_id <> n.active_model_id, false) AS other_model
        FROM new_chunks c JOIN old_chunks o ON o.id = c.id JOIN namespaces n ON n.id = c.namespace_id
        LEFT JOIN stale_chunks s ON s.chunk_id = c.id
    ), stale AS (  -- disjoint from the rows deleted below: no key is both inserted and deleted
        INSERT INTO stale_chunks (chunk_id, document_id, namespace_id, input_changed, other_model)
        SELECT x.id, x.document_id, x.namespace_id, x.input_changed, x.other_model FROM x
        WHERE x.input_changed OR x.other_model
        ON CONFLICT (chunk_id) DO UPDATE SET input_changed = EXCLUDED.input_changed, other_model = EXCLUDED.other_model
        RETURNING chunk_id
    )
    DELETE FROM stale_chunks s USING x WHERE s.chunk_id = x.id AND NOT (x.input_changed OR x.other_model);
    RETURN NULL;
END $$;

DROP TRIGGER chunks_stale_insert ON chunks;
DROP TRIGGER chunks_stale_update ON chunks;
DROP FUNCTION chunks_record_stale();

CREATE TRIGGER chunks_stale_insert AFTER INSERT ON chunks
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION chunks_record_stale_insert();
CREATE TRIGGER chunks_stale_update AFTER UPDATE ON chunks
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION chunks_record_stale_update();
