-- Sessions of the web app (issue 13). The browser's cookie holds a random
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

-- +goose Down
DROP TABLE web_sessions;
