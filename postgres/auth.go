package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

// TokenPrefix starts every API token, so that a leaked token is easy to
// recognise (secret scanners, logs) and a malformed one is refused without
// a query.
const TokenPrefix = "opsf_"

// Token describes an API token; the token itself is never stored.
type Token struct {
	ID         string     `json:"id" db:"id"`
	UserID     string     `json:"user_id" db:"user_id"`
	Label      string     `json:"label" db:"label"`
	CreatedAt  time.Time  `json:"created_at" db:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty" db:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty" db:"revoked_at"`
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenID returns the ID under which a token is listed and revoked: it is
// derived from the token's hash, so whoever holds a token can revoke it.
func TokenID(token string) string { return "tok_" + hex.EncodeToString(hashToken(token)[:8]) }

func checkUser(u opsflow.User) error {
	if strings.TrimSpace(u.ID) == "" {
		return opsflow.Invalid("id", "a user needs an ID")
	}
	if u.Name == "" {
		return opsflow.Invalid("name", "user %s needs a name", u.ID)
	}
	for _, r := range u.Roles {
		if _, err := opsflow.ParseRoles(string(r)); err != nil {
			return err
		}
	}
	return nil
}

func rolesArray(roles []opsflow.Role) pq.StringArray {
	out := make(pq.StringArray, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// EnsureUser creates the user or updates its name and roles.
func (db *DB) EnsureUser(ctx context.Context, u opsflow.User) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error { return ensureUser(ctx, tx, u) })
}

func ensureUser(ctx context.Context, tx *sqlx.Tx, u opsflow.User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO users (id, name, roles) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, roles = excluded.roles, updated_at = now()
		WHERE (users.name, users.roles) IS DISTINCT FROM (excluded.name, excluded.roles)`,
		u.ID, u.Name, rolesArray(u.Roles))
	return wrap("save user", err)
}

// CreateToken creates (or updates) user u and issues a new API token for
// it. The token is returned once; only its SHA-256 is stored.
func (db *DB) CreateToken(ctx context.Context, u opsflow.User, label string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", wrap("generate token", err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := ensureUser(ctx, tx, u); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, user_id, token_hash, label) VALUES ($1, $2, $3, $4)`,
			TokenID(token), u.ID, hashToken(token), label)
		return wrap("save token", err)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

var errBadToken = &opsflow.Error{Code: opsflow.EUNAUTHORIZED, Message: "invalid or revoked API token"}

// Authenticate returns the user a token belongs to, or an unauthorized
// error for an unknown or revoked token. The lookup is by hash, so its
// timing says nothing about how close a guess was.
func (db *DB) Authenticate(ctx context.Context, token string) (opsflow.User, error) {
	if !strings.HasPrefix(token, TokenPrefix) {
		return opsflow.User{}, errBadToken
	}
	var row struct {
		TokenID string         `db:"token_id"`
		UserID  string         `db:"user_id"`
		Name    string         `db:"name"`
		Roles   pq.StringArray `db:"roles"`
		Stale   bool           `db:"stale"`
	}
	err := db.db.GetContext(ctx, &row, `
		SELECT t.id AS token_id, u.id AS user_id, u.name, u.roles,
			(t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute') AS stale
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL`, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.User{}, errBadToken
	}
	if err != nil {
		return opsflow.User{}, wrap("authenticate", err)
	}
	// Record use at most once a minute: a write per request would turn
	// every read of the API into a write on this table.
	if row.Stale {
		if _, err := db.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE id = $1`, row.TokenID); err != nil {
			return opsflow.User{}, wrap("record token use", err)
		}
	}
	u := opsflow.User{ID: row.UserID, Name: row.Name, Roles: make([]opsflow.Role, len(row.Roles))}
	for i, r := range row.Roles {
		u.Roles[i] = opsflow.Role(r)
	}
	return u, nil
}

// RevokeToken revokes a token by ID. Revoking it again keeps the first
// revocation time.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	res, err := db.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, id)
	if err != nil {
		return wrap("revoke token", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such token: " + id}
	}
	return nil
}

// ListTokens lists the tokens of one user, or of everyone when userID is
// "", newest first.
func (db *DB) ListTokens(ctx context.Context, userID string) ([]Token, error) {
	tokens := []Token{}
	err := db.db.SelectContext(ctx, &tokens, `
		SELECT id, user_id, label, created_at, last_used_at, revoked_at FROM api_tokens
		WHERE $1 = '' OR user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	for i := range tokens {
		tokens[i].CreatedAt = tokens[i].CreatedAt.UTC()
		tokens[i].LastUsedAt, tokens[i].RevokedAt = utcPtr(tokens[i].LastUsedAt), utcPtr(tokens[i].RevokedAt)
	}
	return tokens, nil
}
