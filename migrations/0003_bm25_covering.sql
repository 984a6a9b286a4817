-- BM25 reads every posting of each query term. With tf and dl in the index, that read is an
-- index-only scan over consecutive leaf pages instead of one random heap page per posting
-- (postings of a term are scattered over the heap in chunk order). At 100k chunks a common term
-- has ~10k postings: keyword search p50 went from 59 to 38 ms in an interleaved A/B on a loaded
-- 2-core machine (docs/retrieval.md).
ALTER TABLE chunk_terms DROP CONSTRAINT chunk_terms_pkey;
ALTER TABLE chunk_terms ADD CONSTRAINT chunk_terms_pkey PRIMARY KEY (namespace_id, lexeme, chunk_id) INCLUDE (tf, dl);

-- Index-only scans skip the heap only on pages the visibility map marks all-visible: vacuum this
-- insert-heavy table after 1% new rows instead of the default 20%.
ALTER TABLE chunk_terms SET (autovacuum_vacuum_insert_scale_factor = 0.01);
