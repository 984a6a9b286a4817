-- Freshness settings, a job table shared by every background job, and ground-truth drift probes.
-- (Embedding model versioning is 0005.)

-- Per-namespace freshness settings: {"refresh_interval_days", "stale_below", "weight"}; absent keys
-- take the documented defaults (memory/freshness.py). A document may override the refresh interval.
ALTER TABLE namespaces ADD COLUMN freshness jsonb NOT NULL DEFAULT '{}';
ALTER TABLE documents ADD COLUMN refresh_interval interval;

-- Background work, coordinated through PostgreSQL so that with several service processes on one
-- database a job runs once: workers claim with FOR UPDATE SKIP LOCKED and keep a heartbeat; a job
-- whose worker died (no heartbeat) is claimed again and resumes from what is already stored.
CREATE TABLE jobs (
    id            uuid PRIMARY KEY DEFAULT uuidv7(),
    kind          text NOT NULL CHECK (kind IN ('reembed', 'probes')),
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    params        jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    done          bigint NOT NULL DEFAULT 0,
    total         bigint,
    result        jsonb,
    error         text,
    attempts      integer NOT NULL DEFAULT 0,
    worker        text,
    heartbeat_at  timestamptz,
    requested_by  text NOT NULL DEFAULT 'api',  -- api | cli | schedule
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
-- At most one open job of a kind per namespace: asking again returns the open one.
CREATE UNIQUE INDEX jobs_one_open ON jobs (kind, namespace_id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_claimable ON jobs (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_namespace ON jobs (namespace_id, created_at DESC);

-- Drift probes: a query with the sources it must find in the top k.
CREATE TABLE probes (
    id            uuid PRIMARY KEY DEFAULT uuidv7(),
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    query         text NOT NULL,
    expected      text[] NOT NULL CHECK (cardinality(expected) > 0),
    k             integer NOT NULL CHECK (k BETWEEN 1 AND 100),
    strategy      text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX probes_namespace ON probes (namespace_id, created_at);

CREATE TABLE probe_runs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    probe_id            uuid NOT NULL REFERENCES probes ON DELETE CASCADE,
    namespace_id        bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    job_id              uuid REFERENCES jobs ON DELETE SET NULL,
    ran_at              timestamptz NOT NULL DEFAULT now(),
    recall              real NOT NULL,
    reciprocal_rank     real NOT NULL,
    expected_freshness  real,  -- mean freshness of the expected documents that exist
    found               text[] NOT NULL,  -- the top k source_uris, in order
    missing             text[] NOT NULL   -- expected sources not in the top k
);
CREATE INDEX probe_runs_probe ON probe_runs (probe_id, ran_at DESC);

-- The namespace's retrieval-quality score after each run of its probes, and its baseline.
CREATE TABLE probe_scores (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    job_id        uuid REFERENCES jobs ON DELETE SET NULL,
    ran_at        timestamptz NOT NULL DEFAULT now(),
    score         real NOT NULL,
    probes        integer NOT NULL
);
CREATE INDEX probe_scores_namespace ON probe_scores (namespace_id, ran_at DESC);

-- {"probe_below", "score_drop", "webhook_url", "baseline"}: alert thresholds and where to send them.
ALTER TABLE namespaces ADD COLUMN alerting jsonb NOT NULL DEFAULT '{}';

CREATE TABLE alerts (
    id            uuid PRIMARY KEY DEFAULT uuidv7(),
    namespace_id  bigint NOT NULL REFERENCES namespaces ON DELETE CASCADE,
    probe_id      uuid REFERENCES probes ON DELETE SET NULL,
    kind          text NOT NULL CHECK (kind IN ('probe_below_threshold', 'score_dropped')),
    message       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    webhook       text,  -- null: none configured; else delivered | failed: <reason>
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_namespace ON alerts (namespace_id, created_at DESC);
