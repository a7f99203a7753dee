-- The audit trail: one hash chain per stream (a process ID). Rows are never
-- changed or removed; VerifyAudit recomputes the chain to prove it.

-- +goose Up
CREATE TABLE audit_events (
    id          text        PRIMARY KEY,  -- "<stream>/<seq>": the idempotency key
    stream      text        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq >= 1),
    at          timestamptz NOT NULL,
    actor_id    text        NOT NULL,
    actor_name  text        NOT NULL,
    actor_role  text        NOT NULL,
    action      text        NOT NULL,
    field       text        NOT NULL DEFAULT '',
    old_value   text        NOT NULL DEFAULT '',
    new_value   text        NOT NULL DEFAULT '',
    reason      text        NOT NULL DEFAULT '',
    prev_hash   text        NOT NULL,
    hash        text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream, seq)
);

-- Exports and audits read by time across streams.
CREATE INDEX audit_events_at ON audit_events (at);

-- One row per stream: the last appended seq and hash. Appends lock it, which
-- serialises writers of one stream without blocking other streams, and it
-- lets VerifyAudit notice events removed from the end of a chain.
CREATE TABLE audit_heads (
    stream text   PRIMARY KEY,
    seq    bigint NOT NULL,
    hash   text   NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit events are evidence; append a correcting event instead';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
