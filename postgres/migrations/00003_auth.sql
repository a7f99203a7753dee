-- Users and their API tokens. Only a token's SHA-256 is stored: a leaked
-- database does not leak working credentials.

-- +goose Up
CREATE TABLE users (
    id         text        PRIMARY KEY,
    name       text        NOT NULL,
    roles      text[]      NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id           text        PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id),
    token_hash   bytea       NOT NULL UNIQUE,
    label        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- +goose Down
DROP TABLE api_tokens;
DROP TABLE users;
