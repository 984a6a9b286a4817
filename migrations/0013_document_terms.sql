-- Document-level BM25: an inverted index per document, beside the per-chunk one (0002).
--
-- A document longer than one chunk is scored as a whole (its term frequencies over all of its text,
-- its length) and its title is a field of its own, so the query can weight it (BM25F: tf and length
-- of the title are added to the body's times the title weight, at query time). The body is indexed
-- as the chunks are: the context (indexed with every chunk, never shown) then the text, counted once.
-- Triggers on documents keep the table and the namespace's document statistics exact on every write.

CREATE TABLE document_terms (
    namespace_id  bigint NOT NULL,
    lexeme        text NOT NULL,
    document_id   uuid NOT NULL REFERENCES documents ON DELETE CASCADE,
    tf            integer NOT NULL,  -- in the body (context and text)
    ttf           integer NOT NULL,  -- in the title
    dl            integer NOT NULL,  -- the body's length in lexeme occurrences
    tl            integer NOT NULL,  -- the title's
    PRIMARY KEY (namespace_id, lexeme, document_id) INCLUDE (tf, ttf, dl, tl)
);
CREATE INDEX document_terms_document ON document_terms (document_id);
ALTER TABLE document_terms SET (autovacuum_vacuum_insert_scale_factor = 0.01);

ALTER TABLE namespace_stats
    ADD COLUMN documents    bigint NOT NULL DEFAULT 0,
    ADD COLUMN body_terms   bigint NOT NULL DEFAULT 0,
    ADD COLUMN title_terms  bigint NOT NULL DEFAULT 0;

-- Index rows `docs` (ids of documents) and add them to their namespace's statistics.
CREATE FUNCTION document_terms_add(docs uuid[]) RETURNS void LANGUAGE sql AS $$
    WITH v AS (
        SELECT d.id, d.namespace_id, b.body, h.head,
               tsvector_length_total(b.body) AS dl, tsvector_length_total(h.head) AS tl
        FROM documents d,
             LATERAL (SELECT to_tsvector('english', coalesce(d.context || ' ', '') || d.text) AS body) b,
             LATERAL (SELECT to_tsvector('english', coalesce(d.title, '')) AS head) h
        WHERE d.id = ANY(docs)),
    ins AS (
        INSERT INTO document_terms (namespace_id, lexeme, document_id, tf, ttf, dl, tl)
        SELECT v.namespace_id, t.lexeme, v.id, sum(t.tf)::integer, sum(t.ttf)::integer, v.dl, v.tl
        FROM v, LATERAL (SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf, 0 AS ttf FROM unnest(v.body) u
                         UNION ALL
                         SELECT u.lexeme, 0, coalesce(array_length(u.positions, 1), 1) FROM unnest(v.head) u) t
        GROUP BY v.namespace_id, v.id, t.lexeme, v.dl, v.tl)
    INSERT INTO namespace_stats AS s (namespace_id, documents, body_terms, title_terms)
    SELECT namespace_id, count(*), sum(dl), sum(tl) FROM v GROUP BY namespace_id
    ON CONFLICT (namespace_id) DO UPDATE
        SET documents = s.documents + excluded.documents, body_terms = s.body_terms + excluded.body_terms,
            title_terms = s.title_terms + excluded.title_terms
$$;

CREATE FUNCTION documents_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM document_terms_add(ARRAY(SELECT id FROM new_docs));
    RETURN NULL;
END $$;

-- Deleted rows, and updated rows whose indexed text changed (most updates only touch verification
-- times), leave their namespace's statistics; the changed ones are indexed again. The old lengths
-- come from the old text, so a document without any term counts as well.
CREATE FUNCTION documents_after_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone uuid[];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        gone := ARRAY(SELECT n.id FROM new_docs n JOIN old_docs o ON o.id = n.id
                      WHERE (n.text, n.context, n.title) IS DISTINCT FROM (o.text, o.context, o.title));
    ELSE
        gone := ARRAY(SELECT id FROM old_docs);
    END IF;
    IF cardinality(gone) = 0 THEN
        RETURN NULL;
    END IF;
    UPDATE namespace_stats s
    SET documents = s.documents - g.n, body_terms = s.body_terms - g.dl, title_terms = s.title_terms - g.tl
    FROM (SELECT o.namespace_id, count(*) AS n,
                 sum(tsvector_length_total(to_tsvector('english', coalesce(o.context || ' ', '') || o.text))) AS dl,
                 sum(tsvector_length_total(to_tsvector('english', coalesce(o.title, '')))) AS tl
          FROM old_docs o WHERE o.id = ANY(gone) GROUP BY o.namespace_id) g
    WHERE s.namespace_id = g.namespace_id;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM document_terms WHERE document_id = ANY(gone);
        PERFORM document_terms_add(gone);
    END IF;
    RETURN NULL;
END $$;

-- Documents written before this migration.
SELECT document_terms_add(ARRAY(SELECT id FROM documents));

CREATE TRIGGER documents_terms_insert AFTER INSERT ON documents
    REFERENCING NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION documents_after_insert();
CREATE TRIGGER documents_terms_update AFTER UPDATE ON documents
    REFERENCING OLD TABLE AS old_docs NEW TABLE AS new_docs FOR EACH STATEMENT EXECUTE FUNCTION documents_after_change();
CREATE TRIGGER documents_terms_delete AFTER DELETE ON documents
    REFERENCING OLD TABLE AS old_docs FOR EACH STATEMENT EXECUTE FUNCTION documents_after_change();
