-- The web app (issue 13): its sessions, and the indexes its navigation's
-- counts need.
--
-- Sessions. The browser's cookie holds a random
-- secret; only its SHA-256 is stored, so a leaked table signs nobody in.
-- A session signed in with an API token names it: revoking the token ends
-- the session too. Ended and expired sessions stay a week for the record,
-- then are deleted when new sessions start.

-- +goose Up
CREATE TABLE web_sessions (
    id_hash      bytea       PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id),
    token_id     text        REFERENCES api_tokens (id),
    method       text        NOT NULL,
    csrf_token   text        NOT NULL,
    idle_seconds integer     NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    ended_at     timestamptz
);

CREATE INDEX web_sessions_user    ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- A person's inbox — what is still to do, assigned to them or queued
-- (unassigned) for one of their roles — is counted on every page. Without
-- these it is a scan of every task (30 ms at 120,000 tasks); with them a
-- bitmap of the few active ones (3 ms). The inbox list (GET /v1/tasks)
-- uses them too. The state list must read as opsflow.TaskState.Active.
CREATE INDEX tasks_active_assignee ON tasks (assignee) WHERE state IN ('open', 'in_progress', 'blocked') AND assignee <> '';
CREATE INDEX tasks_active_queue    ON tasks (role)     WHERE state IN ('open', 'in_progress', 'blocked') AND assignee = '';

-- +goose Down
DROP INDEX tasks_active_queue;
DROP INDEX tasks_active_assignee;
DROP TABLE web_sessions;
