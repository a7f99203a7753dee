-- API tokens may expire: a token past expires_at authenticates no more.
-- NULL: no expiry (service accounts whose tokens an administrator
-- rotates and revokes by hand, GET /v1/admin/tokens).

-- +goose Up
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
CREATE INDEX api_tokens_list ON api_tokens (created_at DESC, id DESC);

-- +goose Down
DROP INDEX api_tokens_list;
ALTER TABLE api_tokens DROP COLUMN expires_at;
