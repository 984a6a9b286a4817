-- Provenance and trust (issue 10): every stored item records the origin its writer declared (within what
-- the writing key's role allows: memory/provenance.py), and each namespace holds its operator's trust rules.
-- An item's trust level is computed when it is read, from its origin, its source_uri and the namespace's
-- rules (stored here once per namespace), so a rule change holds at once without rewriting any row.
--
-- Existing rows: documents, memories, task summaries and scratchpad entries become origin 'agent', the
-- lowest claim any writing key could make (nothing recorded who was an operator before keys had roles,
-- and every key of that time became an operator key in 0011: 'operator' would over-trust them).
-- A task's own text (goal, constraints, pinned) takes the role of the key that wrote it: agent for agent
-- keys, operator otherwise (a task written before keys had roles was written by an operator-equivalent key).
-- The defaults stay for rows written by hand (tests, benchmarks); the service states every origin.
ALTER TABLE namespaces ADD COLUMN trust jsonb NOT NULL DEFAULT '{}';

ALTER TABLE documents ADD COLUMN origin text NOT NULL DEFAULT 'agent'
    CHECK (origin IN ('operator', 'agent', 'tool', 'web', 'user'));

ALTER TABLE document_versions ADD COLUMN origin text;  -- NULL: written before 0014

ALTER TABLE scratchpad_entries ADD COLUMN origin text NOT NULL DEFAULT 'agent'
    CHECK (origin IN ('operator', 'agent', 'tool', 'web', 'user'));

ALTER TABLE tasks ADD COLUMN origin text NOT NULL DEFAULT 'operator' CHECK (origin IN ('operator', 'agent'));
UPDATE tasks t SET origin = 'agent' FROM api_keys k WHERE k.id = t.written_by AND k.role <> 'operator';
