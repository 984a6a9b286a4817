-- Vectors inline in the row, text out of it. pgvector's type stores a value EXTERNAL (out of line,
-- uncompressed) once a row passes PostgreSQL's ~2 kB TOAST threshold, which a chunk's text, context,
-- tsv and a 384-dimension vector (1.5 kB) do: an exact scan (namespaces up to
-- exact_search_max_chunks) then read every vector through the TOAST index, ~6 buffers a row. With
-- MAIN the text columns are compressed or moved out first and the vector stays in the row unless it
-- cannot fit at all (a very large dimension), so a scan reads the heap alone: at 100k chunks an
-- exact top-50 took ~630 ms with vectors out of line and ~100-130 ms in line (docs/retrieval.md).
-- Applies to rows written from now on (every write, re-embedding and flip writes a new row);
-- `VACUUM FULL chunks` rewrites older rows the same way (it locks the table: a maintenance window).
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE MAIN;
ALTER TABLE scratchpad_entries ALTER COLUMN embedding SET STORAGE MAIN;
