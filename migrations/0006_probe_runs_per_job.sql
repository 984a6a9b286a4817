-- Drift probes, continued (0004 made the tables): what a probes job records, it records once.
-- A job that dies half-way is resumed by another worker, which skips the probes already run,
-- and writes the namespace score with its alerts in one transaction, so a resumed job neither
-- counts a probe twice nor raises an alert twice.
CREATE UNIQUE INDEX probe_runs_once_per_job ON probe_runs (job_id, probe_id);
CREATE UNIQUE INDEX probe_scores_once_per_job ON probe_scores (job_id);

-- Which probes a score was measured on (jobs/probe_scoring.py: probe_set_fingerprint): a score is
-- compared with the baseline only when both come from the same set of probes.
ALTER TABLE probe_scores ADD COLUMN probe_set text;

-- An alert belongs to the run that raised it (its webhook is sent by that job, resumed if need be).
-- alerts.webhook: null = no webhook configured; 'pending'; 'delivered'; 'failed: <reason>'.
ALTER TABLE alerts ADD COLUMN job_id uuid REFERENCES jobs ON DELETE SET NULL;
ALTER TABLE alerts ADD COLUMN webhook_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX alerts_pending_webhook ON alerts (job_id) WHERE webhook = 'pending';
