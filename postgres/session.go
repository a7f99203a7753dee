package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"time"

	"github.com/lib/pq"
	"github.com/opsflow/opsflow"
)

// Sessions of the web app: a random secret in the browser's cookie, its
// SHA-256 here (see migration 00013).

var errNoSession = &opsflow.Error{Code: opsflow.EUNAUTHORIZED, Message: "not signed in, or the session has ended"}

func randomSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", wrap("generate secret", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// StartSession starts a session and returns the secret the browser keeps.
// Sessions ended or expired more than a week ago are deleted on the way.
func (db *DB) StartSession(ctx context.Context, n opsflow.NewSession) (string, error) {
	if n.UserID == "" || n.Method == "" || n.TTL <= 0 || n.Idle <= 0 {
		return "", opsflow.Invalid("session", "a session needs a user, a method and positive lifetimes")
	}
	secret, err := randomSecret()
	if err != nil {
		return "", err
	}
	csrf, err := randomSecret()
	if err != nil {
		return "", err
	}
	var tokenID *string
	if n.Token != "" {
		id := TokenID(n.Token)
		tokenID = &id
	}
	_, err = db.db.ExecContext(ctx, `
		WITH old AS (DELETE FROM web_sessions WHERE coalesce(ended_at, expires_at) < now() - interval '7 days')
		INSERT INTO web_sessions (id_hash, user_id, token_id, method, csrf_token, idle_seconds, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
		hashSecret(secret), n.UserID, tokenID, n.Method, csrf, int(n.Idle.Seconds()), n.TTL.Seconds())
	if err != nil {
		return "", wrap("start session", err)
	}
	return secret, nil
}

// Session returns the live session of a secret: not ended, not expired,
// not idle too long, and — when signed in with a token — the token still
// valid. Anything else is unauthorized. Its use is recorded at most once a
// minute, which is what the idle timeout counts from.
func (db *DB) Session(ctx context.Context, secret string) (opsflow.Session, error) {
	if secret == "" {
		return opsflow.Session{}, errNoSession
	}
	var row struct {
		UserID    string         `db:"user_id"`
		Name      string         `db:"name"`
		Roles     pq.StringArray `db:"roles"`
		Method    string         `db:"method"`
		CSRF      string         `db:"csrf_token"`
		TokenID   string         `db:"token_id"`
		CreatedAt time.Time      `db:"created_at"`
		ExpiresAt time.Time      `db:"expires_at"`
		Stale     bool           `db:"stale"`
	}
	st, err := db.prepared(ctx, `
		SELECT s.user_id, u.name, u.roles, s.method, s.csrf_token, COALESCE(s.token_id, '') AS token_id, s.created_at, s.expires_at,
			s.last_seen_at < now() - interval '1 minute' AS stale
		FROM web_sessions s
		JOIN users u ON u.id = s.user_id
		LEFT JOIN api_tokens t ON t.id = s.token_id
		WHERE s.id_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now()
		  AND s.last_seen_at > now() - make_interval(secs => s.idle_seconds)
		  AND (s.token_id IS NULL OR t.revoked_at IS NULL)`)
	if err != nil {
		return opsflow.Session{}, err
	}
	err = st.GetContext(ctx, &row, hashSecret(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.Session{}, errNoSession
	}
	if err != nil {
		return opsflow.Session{}, wrap("read session", err)
	}
	if row.Stale {
		if _, err := db.db.ExecContext(ctx, `UPDATE web_sessions SET last_seen_at = now() WHERE id_hash = $1`, hashSecret(secret)); err != nil {
			return opsflow.Session{}, wrap("record session use", err)
		}
	}
	u := opsflow.User{ID: row.UserID, Name: row.Name, Roles: make([]opsflow.Role, len(row.Roles))}
	for i, r := range row.Roles {
		u.Roles[i] = opsflow.Role(r)
	}
	return opsflow.Session{User: u, Method: row.Method, CSRF: row.CSRF, TokenID: row.TokenID, CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC()}, nil
}

// EndSession ends a session (signing out). Ending one that has ended or
// never existed is not an error: the person is signed out either way.
func (db *DB) EndSession(ctx context.Context, secret string) error {
	_, err := db.db.ExecContext(ctx, `UPDATE web_sessions SET ended_at = now() WHERE id_hash = $1 AND ended_at IS NULL`, hashSecret(secret))
	return wrap("end session", err)
}
