-- The engine's operational state beside the read model.
--
-- A stalled process is one whose changes the store refused for good (not a
-- passing outage): the workflow holds them until an administrator retries
-- or abandons it. The columns let lists, readiness and admins see it even
-- when the process never got a row of its own (its first write failed).
--
-- Idempotency keys remember the fingerprint of the request that first used
-- a key, so a key reused with a different body is refused (422) instead of
-- silently answering for the first request (IETF Idempotency-Key draft).

-- +goose Up
ALTER TABLE processes
    ADD COLUMN stalled_at  timestamptz,
    ADD COLUMN stall_error text;
CREATE INDEX processes_stalled ON processes (stalled_at) WHERE stalled_at IS NOT NULL;

CREATE TABLE idempotency_keys (
    user_id     text        NOT NULL,
    key         text        NOT NULL,
    fingerprint text        NOT NULL,  -- SHA-256 of method, path and body
    method      text        NOT NULL,
    path        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP INDEX processes_stalled;
ALTER TABLE processes DROP COLUMN stall_error, DROP COLUMN stalled_at;
