-- Who read or exported which record, when (issue 12): one row per read of
-- a record or its trail and per record exported. Append-only for the
-- application (postgres/roles.go grants it SELECT and INSERT only). The
-- API writes reads in batches (at most a second late) and exports before
-- the export is sent: see README, Security.

-- +goose Up
CREATE TABLE access_log (
    id         bigserial   PRIMARY KEY,
    at         timestamptz NOT NULL,
    user_id    text        NOT NULL,
    action     text        NOT NULL,  -- read, read_audit, export
    record_id  text        NOT NULL,
    kind       text        NOT NULL DEFAULT '',
    request_id text        NOT NULL DEFAULT ''
);
CREATE INDEX access_log_record ON access_log (record_id, id DESC);
CREATE INDEX access_log_user   ON access_log (user_id, id DESC);

-- +goose Down
DROP TABLE access_log;
