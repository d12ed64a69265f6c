-- The current counts per user. An import sets (not adds) them, and only when its file is as of
-- a time no older than the file that set the current counts (the as-of guard).
CREATE TABLE user_statistics (
    user_id       VARCHAR(10) PRIMARY KEY REFERENCES users(user_id),
    login_count   INTEGER NOT NULL DEFAULT 0 CHECK (login_count >= 0),
    post_count    INTEGER NOT NULL DEFAULT 0 CHECK (post_count >= 0),
    last_updated  TIMESTAMPTZ NOT NULL DEFAULT now(),
    as_of         TIMESTAMPTZ NOT NULL,           -- the as-of time of the file that set these counts
    import_id     BIGINT NOT NULL REFERENCES imports(import_id)
);

-- The audit outbox: one row per change an import made, written in the same transaction as the
-- change. The old counts are NULL when the import created the user's statistics.
CREATE TABLE statistic_changes (
    import_id        BIGINT NOT NULL REFERENCES imports(import_id),
    user_id          VARCHAR(10) NOT NULL,
    line             BIGINT,                  -- the line of the source file, when known
    old_login_count  INTEGER,
    new_login_count  INTEGER NOT NULL,
    old_post_count   INTEGER,
    new_post_count   INTEGER NOT NULL,
    changed_at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (import_id, user_id)
);

-- Finding recently updated statistics (and the daily export's incremental reads).
CREATE INDEX idx_user_statistics_last_updated ON user_statistics(last_updated);
