-- The foundation: tenants and keys, tasks with pinned context, the scratchpad, long-term documents and chunks.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE namespaces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A key is stored only as its SHA-256; the key alone decides the namespace.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT uuidv7(),
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    label         text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_namespace ON api_keys (namespace_id);

CREATE TABLE tasks (
    id             uuid PRIMARY KEY DEFAULT uuidv7(),
    namespace_id   bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    goal           text NOT NULL,
    constraints    jsonb NOT NULL DEFAULT '[]',
    pinned         jsonb NOT NULL DEFAULT '[]',
    pinned_tokens  integer NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    outcome        text,
    created_by     uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    completed_at   timestamptz
);
CREATE INDEX tasks_namespace ON tasks (namespace_id, created_at);

-- Earlier versions of a task's goal, constraints and pinned context (the operator's edits).
CREATE TABLE task_versions (
    task_id      uuid NOT NULL REFERENCES tasks ON DELETE CASCADE,
    version      integer NOT NULL,
    goal         text NOT NULL,
    constraints  jsonb NOT NULL,
    pinned       jsonb NOT NULL,
    changed_by   uuid,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (task_id, version)
);

CREATE TABLE scratchpad_entries (
    id              uuid PRIMARY KEY DEFAULT uuidv7(),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    namespace_id    bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    task_id         uuid NOT NULL REFERENCES tasks ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('fact', 'result', 'note')),
    content         text NOT NULL,
    summary         text,
    step            integer,
    citations       jsonb NOT NULL DEFAULT '[]',
    unsourced       boolean NOT NULL,
    content_hash    text NOT NULL,
    tokens          integer NOT NULL,
    summary_tokens  integer,
    embedding       vector(384),
    embedding_model text,
    written_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scratchpad_task ON scratchpad_entries (task_id, seq);

-- Long-term memory: documents (upserted by source_uri) and single memories (summaries, facts, preferences).
CREATE TABLE documents (
    id                 uuid PRIMARY KEY DEFAULT uuidv7(),
    namespace_id       bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    source_uri         text NOT NULL,
    kind               text NOT NULL CHECK (kind IN ('document', 'summary', 'fact', 'preference')),
    title              text,
    metadata           jsonb NOT NULL DEFAULT '{}',
    text               text NOT NULL,
    context            text,
    content_hash       text NOT NULL,
    tokens             integer NOT NULL,
    version            integer NOT NULL DEFAULT 1,
    task_id            uuid REFERENCES tasks ON DELETE CASCADE,
    source_updated_at  timestamptz,
    written_by         uuid,
    ingested_at        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    last_verified_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (namespace_id, source_uri)
);
CREATE INDEX documents_task ON documents (task_id) WHERE task_id IS NOT NULL;

-- One row per version written: provenance of every change, without the old text.
CREATE TABLE document_versions (
    document_id   uuid NOT NULL REFERENCES documents ON DELETE CASCADE,
    version       integer NOT NULL,
    content_hash  text NOT NULL,
    tokens        integer NOT NULL,
    chunks        integer NOT NULL,
    written_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version)
);

-- Chunks carry namespace_id so retrieval filters without a join; kind is copied for the same reason.
CREATE TABLE chunks (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace_id     bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    document_id      uuid NOT NULL REFERENCES documents ON DELETE CASCADE,
    kind             text NOT NULL,
    ord              integer NOT NULL,
    text             text NOT NULL,
    -- Indexed with the text (embedding and keywords) but never shown: a title, the preceding turn.
    context          text,
    tokens           integer NOT NULL,
    embedding        vector(384) NOT NULL,
    embedding_model  text NOT NULL,
    tsv              tsvector GENERATED ALWAYS AS (to_tsvector('english', coalesce(context || ' ', '') || text)) STORED,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (document_id, ord)
);
CREATE INDEX chunks_namespace ON chunks (namespace_id);
CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops);
