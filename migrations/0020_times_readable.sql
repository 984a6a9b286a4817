-- Times that no read could load back. Until the API refused them (api/schemas/base.py::Timestamp), a
-- time inside years 1-9999 as written but outside them in UTC ("9999-12-31T23:59:59-14:00") was stored:
-- PostgreSQL holds it, Python's datetime cannot, so every read of the row (the document, a search or an
-- assemble that ranked it, the freshness page) failed with a 500, and so did a re-upsert to repair it.
-- Such values are moved to the nearest time a read can load; the rest are left as they are.
UPDATE documents SET source_updated_at = greatest(least(source_updated_at, '9999-12-31 23:59:59.999999+00'),
                                                  '0001-01-01 00:00:00+00')
WHERE source_updated_at > '9999-12-31 23:59:59.999999+00' OR source_updated_at < '0001-01-01 00:00:00+00';
UPDATE chunks SET source_updated_at = greatest(least(source_updated_at, '9999-12-31 23:59:59.999999+00'),
                                               '0001-01-01 00:00:00+00')
WHERE source_updated_at > '9999-12-31 23:59:59.999999+00' OR source_updated_at < '0001-01-01 00:00:00+00';
UPDATE api_keys SET expires_at = greatest(least(expires_at, '9999-12-31 23:59:59.999999+00'), '0001-01-01 00:00:00+00')
WHERE expires_at > '9999-12-31 23:59:59.999999+00' OR expires_at < '0001-01-01 00:00:00+00';
