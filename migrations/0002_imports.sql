-- The imports ledger: one row per source object (bucket, key, ETag), claimed before anything is
-- applied. The idempotency key is derived from bucket, key and ETag, so a duplicated S3 or
-- EventBridge event finds the existing row and has no second effect.
CREATE TABLE imports (
    import_id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  TEXT NOT NULL UNIQUE,
    source_bucket    TEXT NOT NULL,
    source_key       TEXT NOT NULL,
    source_etag      TEXT NOT NULL,
    as_of            TIMESTAMPTZ NOT NULL,    -- the time the file's counts are as of
    execution_name   TEXT,                    -- the Step Functions execution, when there is one
    route            TEXT,                    -- the processing path that applied the file
    status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'rejected')),
    attempt          INTEGER NOT NULL DEFAULT 1,
    claimed_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at      TIMESTAMPTZ,
    -- The outcome, filled in when the import finishes.
    rows_total       BIGINT,
    applied          BIGINT,
    unchanged        BIGINT,
    skipped_older    BIGINT,
    row_errors       BIGINT,
    summary          JSONB
);

-- Finding running or failed imports, oldest claim first.
CREATE INDEX idx_imports_status ON imports(status, claimed_at);
