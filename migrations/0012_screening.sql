-- Screening on write (issue 10): each namespace's policy for flagged writes and for secrets, and each
-- stored item's screening state. A quarantined document keeps no chunks (so no search or assembly can
-- reach it) until an operator releases it; a quarantined scratchpad entry is skipped by assembly.
ALTER TABLE namespaces ADD COLUMN screening jsonb NOT NULL DEFAULT '{}';

ALTER TABLE documents
    ADD COLUMN screening text NOT NULL DEFAULT 'clean'
        CHECK (screening IN ('clean', 'flagged', 'quarantined', 'released')),
    ADD COLUMN screening_flags jsonb NOT NULL DEFAULT '{}';
CREATE INDEX documents_quarantined ON documents (namespace_id) WHERE screening = 'quarantined';

ALTER TABLE scratchpad_entries
    ADD COLUMN screening text NOT NULL DEFAULT 'clean'
        CHECK (screening IN ('clean', 'flagged', 'quarantined', 'released')),
    ADD COLUMN screening_flags jsonb NOT NULL DEFAULT '{}';
CREATE INDEX scratchpad_entries_quarantined ON scratchpad_entries (namespace_id) WHERE screening = 'quarantined';
