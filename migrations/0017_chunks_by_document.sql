-- The chunks of a document, by id, from the index alone (an index-only scan): keyword search
-- (retrieval/doc_bm25.py) lists every chunk of its best documents on each query, and reading them
-- from the table fetched a heap row (with its vector) per chunk: 88 of 420 ms of a 100k-chunk query.
CREATE INDEX chunks_document_chunk ON chunks (document_id) INCLUDE (id);
