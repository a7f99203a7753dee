-- Single sign-on: a user provisioned from an OpenID Connect issuer is
-- linked to the issuer's subject, so an ID the issuer hands to someone
-- else later (or a local account of the same ID) is never taken over.

-- +goose Up
ALTER TABLE users ADD COLUMN sso_issuer text, ADD COLUMN sso_subject text;
CREATE UNIQUE INDEX users_sso ON users (sso_issuer, sso_subject) WHERE sso_subject IS NOT NULL;

-- +goose Down
DROP INDEX users_sso;
ALTER TABLE users DROP COLUMN sso_subject, DROP COLUMN sso_issuer;
