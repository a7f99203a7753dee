-- The notification outbox: reminders and escalations a workflow owes
-- someone. Rows are keyed by an ID derived from the audit event that caused
-- them, so a retried projection never queues one twice; a mailer or chat
-- bridge drains rows whose sent_at is null.

-- +goose Up
CREATE TABLE notifications (
    id         text        PRIMARY KEY,
    process_id text        NOT NULL,
    task_id    text        NOT NULL DEFAULT '',
    recipient  text        NOT NULL,
    subject    text        NOT NULL,
    at         timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX notifications_unsent ON notifications (at) WHERE sent_at IS NULL;
CREATE INDEX notifications_recipient ON notifications (recipient, at);

-- +goose Down
DROP TABLE notifications;
