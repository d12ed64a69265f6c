-- The users known to the external system. Imports never create users: a row whose user is not
-- here is recorded as a `UserNotFound` row error.
CREATE TABLE users (
    user_id     VARCHAR(10) PRIMARY KEY,      -- 1-10 characters of [A-Za-z0-9_-], checked by the importer
    username    VARCHAR(100) NOT NULL,
    email       VARCHAR(255) UNIQUE NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Listing users by sign-up time.
CREATE INDEX idx_users_created_at ON users(created_at);
