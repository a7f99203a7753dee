-- Notifications that reach people. A user has an address, a time zone and
-- preferences; each outbox row (one event for a user or a role) expands
-- into one delivery per person and channel, which the worker's dispatcher
-- sends at least once and records: attempts, the last error, when it was
-- sent, or that it went into the person's daily digest.

-- +goose Up
ALTER TABLE users
    ADD COLUMN email          text        NOT NULL DEFAULT '',
    ADD COLUMN timezone       text        NOT NULL DEFAULT 'UTC',
    ADD COLUMN prefs          jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN next_digest_at timestamptz;

ALTER TABLE notifications
    ADD COLUMN kind        text        NOT NULL DEFAULT '',
    ADD COLUMN level       integer     NOT NULL DEFAULT 0,
    ADD COLUMN reason      text        NOT NULL DEFAULT '',
    ADD COLUMN expanded_at timestamptz;
-- Rows written before deliveries existed are history, not a backlog.
UPDATE notifications SET expanded_at = now();
CREATE INDEX notifications_new ON notifications (at) WHERE expanded_at IS NULL;

CREATE TABLE notification_deliveries (
    id              text        PRIMARY KEY,  -- notification, person and channel: a re-expansion adds nothing
    notification_id text        NOT NULL REFERENCES notifications (id),
    user_id         text        NOT NULL,
    channel         text        NOT NULL,     -- email, slack, teams, webhook
    state           text        NOT NULL,     -- pending, sent, failed, digest, digested, skipped
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text        NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_until   timestamptz,              -- a dispatcher holds it until then
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notification_deliveries_user ON notification_deliveries (user_id, created_at DESC, id DESC);
CREATE INDEX notification_deliveries_state ON notification_deliveries (state, created_at DESC, id DESC);

-- +goose Down
DROP TABLE notification_deliveries;
DROP INDEX notifications_new;
ALTER TABLE notifications DROP COLUMN expanded_at, DROP COLUMN reason, DROP COLUMN level, DROP COLUMN kind;
ALTER TABLE users DROP COLUMN next_digest_at, DROP COLUMN prefs, DROP COLUMN timezone, DROP COLUMN email;
