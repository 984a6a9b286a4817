-- Retention (jobs/retention.py) and the `retention` job.
--
-- The retention job is one job for the whole database, so a job's namespace may now be null; at
-- most one open job per kind and namespace still holds, with null counted as one namespace.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('reembed', 'probes', 'retention'));
ALTER TABLE jobs ALTER COLUMN namespace_id DROP NOT NULL;
DROP INDEX jobs_one_open;
CREATE UNIQUE INDEX jobs_one_open ON jobs (kind, namespace_id) NULLS NOT DISTINCT
    WHERE status IN ('queued', 'running');

-- Claims count each namespace's running jobs (jobs/queue.py: fewest first) without reading its history.
CREATE INDEX jobs_running ON jobs (namespace_id) WHERE status = 'running';

-- What the batched deletes look rows up by: the oldest first, across namespaces.
CREATE INDEX assemble_traces_created ON assemble_traces (created_at);
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('done', 'failed');
CREATE INDEX probe_runs_ran ON probe_runs (ran_at);
CREATE INDEX probe_scores_ran ON probe_scores (ran_at);
-- Deleting a job sets alerts.job_id to null (ON DELETE SET NULL): without this, a scan per job.
CREATE INDEX alerts_job ON alerts (job_id) WHERE job_id IS NOT NULL;
