-- Who issued each API token, and under which Idempotency-Key when it was
-- issued through the API. A token's secret is shown once and only its
-- hash is kept, so a request repeated with its key cannot be answered
-- with the secret again: the key marks the token it already issued, and
-- the repeat is refused (409) instead of minting a second one. Keys are
-- the issuer's own, as in idempotency_keys. NULL for tokens issued before
-- (their issuer is on the user's audit stream).

-- +goose Up
ALTER TABLE api_tokens ADD COLUMN issued_by text, ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX api_tokens_idempotency ON api_tokens (issued_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP INDEX api_tokens_idempotency;
ALTER TABLE api_tokens DROP COLUMN idempotency_key, DROP COLUMN issued_by;
