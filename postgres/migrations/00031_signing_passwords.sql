-- Part 11 signing passwords: one per user, stored only as an argon2id PHC
-- string (internal/secret), with the run of failed attempts that locks
-- signing (opsflow.SigningPolicy). Setting, failing, locking and unlocking
-- are recorded on the user's audit stream, never the password or its hash.

-- +goose Up
CREATE TABLE signing_credentials (
    user_id      text        PRIMARY KEY REFERENCES users (id),
    hash         text        NOT NULL,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    set_at       timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE signing_credentials;
