-- Signed checkpoints of the audit chains (see opsflow.Checkpoint). The
-- evidence is the published copy (a directory, a webhook receiver), outside
-- the database: these tables are the producer's own log, used to number the
-- next checkpoint, to find the heads that moved since the last one and to
-- retry publishing. Verification never trusts them.

-- +goose Up
CREATE TABLE audit_checkpoints (
    number        bigint      PRIMARY KEY CHECK (number >= 1),
    signed_at     timestamptz NOT NULL,
    key_id        text        NOT NULL,
    digest        text        NOT NULL,   -- SHA-256 of what the signature covers: the next checkpoint's "prev"
    heads         integer     NOT NULL,
    body          text        NOT NULL,   -- the checkpoint exactly as published
    published_at  timestamptz,
    publish_error text        NOT NULL DEFAULT '',
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_checkpoints_unpublished ON audit_checkpoints (number) WHERE published_at IS NULL;

-- The head of each stream as last checkpointed, so that a checkpoint lists
-- only the heads that moved since.
CREATE TABLE audit_checkpointed (
    stream     text   PRIMARY KEY,
    seq        bigint NOT NULL,
    hash       text   NOT NULL,
    checkpoint bigint NOT NULL
);

-- +goose Down
DROP TABLE audit_checkpointed;
DROP TABLE audit_checkpoints;
