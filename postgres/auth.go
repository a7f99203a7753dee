package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
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
	ExpiresAt  *time.Time `json:"expires_at,omitempty" db:"expires_at"`
	// IssuedBy is who issued it: the person themself, an administrator,
	// an operator of the command line (cli:…); empty for tokens issued
	// before it was kept (their user's audit stream says).
	IssuedBy string `json:"issued_by,omitempty" db:"issued_by"`
}

// State is active, revoked or expired (at now).
func (t Token) State(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !t.ExpiresAt.After(now):
		return "expired"
	}
	return "active"
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenID returns the ID under which a token is listed and revoked: it is
// derived from the token's hash, so whoever holds a token can revoke it.
func TokenID(token string) string { return "tok_" + hex.EncodeToString(hashToken(token)[:8]) }

func checkUser(u opsflow.User) error {
	if err := opsflow.CheckUserID(u.ID); err != nil {
		return err
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

func rolesText(roles []opsflow.Role) string { return strings.Join(rolesArray(roles), ",") }

// storedUser is a user row locked for the rest of tx, or found false.
// Every write to a user's identity, and to its audit stream, locks the row
// first, so that they queue and each event continues the stream.
func lockUser(ctx context.Context, tx *sqlx.Tx, id string) (u opsflow.User, found bool, err error) {
	var row struct {
		Name  string         `db:"name"`
		Roles pq.StringArray `db:"roles"`
	}
	err = tx.GetContext(ctx, &row, `SELECT name, roles FROM users WHERE id = $1 FOR UPDATE`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return opsflow.User{ID: id}, false, nil
	}
	if err != nil {
		return u, false, wrap("lock user", err)
	}
	u = opsflow.User{ID: id, Name: row.Name, Roles: make([]opsflow.Role, len(row.Roles))}
	for i, r := range row.Roles {
		u.Roles[i] = opsflow.Role(r)
	}
	return u, true, nil
}

// auditUser appends changes to a user's audit stream (opsflow.UserStream)
// in tx, after the user's row was locked.
func auditUser(ctx context.Context, tx *sqlx.Tx, id string, by opsflow.Actor, at time.Time, changes ...opsflow.AuditEvent) error {
	stream := opsflow.UserStream(id)
	var seq int64
	err := tx.GetContext(ctx, &seq, `SELECT seq FROM audit_heads WHERE stream = $1`, stream)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return wrap("read audit head", err)
	}
	for i := range changes {
		seq++
		e := &changes[i]
		e.Stream, e.Seq, e.At = stream, seq, at
		e.ActorID, e.ActorName, e.ActorRole = by.ID, by.Name, by.RoleLabel(opsflow.RoleAdmin)
	}
	return AppendAudit(ctx, tx, changes)
}

// EnsureUser creates the user unless it exists. An existing user keeps its
// name and roles: changing them is SetUserRoles, which is audited.
func (db *DB) EnsureUser(ctx context.Context, u opsflow.User) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := ensureUser(ctx, tx, u, opsflow.SystemActor, time.Now())
		return err
	})
}

// ensureUser creates u if it does not exist, auditing it, and returns the
// user as stored (locked in tx). For an existing user, u's name and roles
// must be empty or the stored ones: a token is no way to change them.
func ensureUser(ctx context.Context, tx *sqlx.Tx, u opsflow.User, by opsflow.Actor, at time.Time) (opsflow.User, error) {
	if err := opsflow.CheckUserID(u.ID); err != nil {
		return u, err
	}
	stored, found, err := lockUser(ctx, tx, u.ID)
	if err != nil {
		return u, err
	}
	if found {
		if len(u.Roles) > 0 && !opsflow.SameRoles(u.Roles, stored.Roles) {
			return u, opsflow.Conflict("", "user %s already exists with roles %s: a new token does not change them; "+
				"change them explicitly, and audited, with `opsflow user roles --user %s --set %s --reason …`",
				u.ID, rolesText(stored.Roles), u.ID, rolesText(u.Roles))
		}
		if u.Name != "" && u.Name != stored.Name {
			return u, opsflow.Conflict("", "user %s already exists with the name %q: a new token does not rename them", u.ID, stored.Name)
		}
		return stored, nil
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	if err := checkUser(u); err != nil {
		return u, err
	}
	if len(u.Roles) == 0 {
		return u, opsflow.Invalid("roles", "a new user needs at least one role")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, roles) VALUES ($1, $2, $3)`, u.ID, u.Name, rolesArray(u.Roles)); err != nil {
		return u, wrap("save user", err)
	}
	return u, auditUser(ctx, tx, u.ID, by, at, opsflow.AuditEvent{
		Action: "user.created", Field: "roles", New: rolesText(u.Roles), Reason: "created as " + u.Name,
	})
}

// CreateToken issues a new API token for user u, creating the user when it
// does not exist yet (see IssueToken); the system is the recorded issuer.
func (db *DB) CreateToken(ctx context.Context, u opsflow.User, label string) (string, error) {
	return db.IssueToken(ctx, u, label, opsflow.SystemActor)
}

// IssueToken issues a new API token for user u on behalf of by, creating
// the user when it does not exist yet. For an existing user, u's roles
// and name must be empty or equal to the stored ones: issuing a token
// never changes who someone is or what they may do (SetUserRoles does,
// audited). The user's creation and the token (by ID) are recorded on the
// user's audit stream. The token is returned once; only its SHA-256 is
// stored.
func (db *DB) IssueToken(ctx context.Context, u opsflow.User, label string, by opsflow.Actor) (string, error) {
	return db.IssueTokenUntil(ctx, u, label, by, nil)
}

// IssueTokenUntil is IssueToken for a token that expires at expires (nil:
// never).
func (db *DB) IssueTokenUntil(ctx context.Context, u opsflow.User, label string, by opsflow.Actor, expires *time.Time) (string, error) {
	if expires != nil && !expires.After(time.Now()) {
		return "", opsflow.Invalid("expires", "a token's expiry must lie in the future")
	}
	var token string
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		at := time.Now()
		if _, err := ensureUser(ctx, tx, u, by, at); err != nil {
			return err
		}
		var err error
		token, _, err = insertToken(ctx, tx, TokenIssue{UserID: u.ID, Label: label, Expires: expires}, by, at)
		return err
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// TokenIssue is a token to issue for an existing user through the API:
// what it is for, when it expires (nil: never), why (an administrator
// issuing one for someone says why) and the issuer's Idempotency-Key
// ("" for none).
type TokenIssue struct {
	UserID  string
	Label   string
	Expires *time.Time
	Reason  string
	Key     string
}

// IssueTokenFor issues a new API token for the existing user in.UserID on
// behalf of by, and records it (with by as the actor and in's reason) on
// the user's audit stream; it never creates or changes a user. It returns
// the token, shown this once, and what is stored of it.
//
// A token already issued by by under the same key is not issued again:
// its secret was shown once and is not stored, so the answer is a
// conflict naming that token (so that whoever lost it can revoke it),
// with its description.
func (db *DB) IssueTokenFor(ctx context.Context, in TokenIssue, by opsflow.Actor) (string, Token, error) {
	if in.Expires != nil && !in.Expires.After(time.Now()) {
		return "", Token{}, opsflow.Invalid("expires", "a token's expiry must lie in the future")
	}
	var token string
	var t Token
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		_, found, err := lockUser(ctx, tx, in.UserID)
		if err != nil {
			return err
		}
		if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such user: " + in.UserID}
		}
		if in.Key != "" {
			prev, found, err := tokenByKey(ctx, tx, by.ID, in.Key)
			if err != nil || found {
				t = prev
				if found {
					return replayedToken(prev)
				}
				return err
			}
		}
		token, t, err = insertToken(ctx, tx, in, by, time.Now())
		return err
	})
	if err != nil && in.Key != "" && opsflow.ErrorCode(err) == opsflow.ECONFLICT && t.ID == "" {
		// The same request, twice at once: the other one issued it.
		if prev, found, lerr := tokenByKey(ctx, db.db, by.ID, in.Key); lerr == nil && found {
			return "", prev, replayedToken(prev)
		}
	}
	if err != nil {
		return "", t, err
	}
	return token, t, nil
}

// tokenByKey is the token issuer issued under key, if any.
func tokenByKey(ctx context.Context, q sqlx.QueryerContext, issuer, key string) (Token, bool, error) {
	var t Token
	err := sqlx.GetContext(ctx, q, &t, `SELECT `+tokenColumns+` FROM api_tokens WHERE issued_by = $1 AND idempotency_key = $2`, issuer, key)
	if errors.Is(err, sql.ErrNoRows) {
		return t, false, nil
	}
	if err != nil {
		return t, false, wrap("read token", err)
	}
	return t.utc(), true, nil
}

// replayedToken is the answer to a token request repeated with its key.
func replayedToken(t Token) error {
	return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "Idempotency-Key", State: t.State(time.Now()),
		Message: fmt.Sprintf("this request was answered before (the same Idempotency-Key): it issued token %s (%q) at %s. "+
			"A token's secret is shown only once, in that answer, and cannot be shown again: if you did not keep it, revoke %s and create a new token",
			t.ID, t.Label, t.CreatedAt.Format(time.RFC3339), t.ID)}
}

// insertToken generates a token for in.UserID (locked in tx), stores its
// hash and records it on the user's audit stream: by as the actor, the
// reason, label and expiry as the event's reason, the token's ID (never
// the token) as its new value.
func insertToken(ctx context.Context, tx *sqlx.Tx, in TokenIssue, by opsflow.Actor, at time.Time) (string, Token, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, wrap("generate token", err)
	}
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var key *string
	if in.Key != "" {
		key = &in.Key
	}
	var t Token
	if err := tx.GetContext(ctx, &t, `INSERT INTO api_tokens (id, user_id, token_hash, label, expires_at, issued_by, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+tokenColumns,
		TokenID(token), in.UserID, hashToken(token), in.Label, in.Expires, by.ID, key); err != nil {
		return "", Token{}, wrap("save token", err)
	}
	var parts []string
	if r := strings.TrimSpace(in.Reason); r != "" {
		parts = append(parts, r)
	}
	if label := strings.TrimSpace(in.Label); label != "" {
		parts = append(parts, "label "+label)
	}
	if in.Expires != nil {
		parts = append(parts, "expires "+in.Expires.UTC().Format(time.RFC3339))
	}
	err := auditUser(ctx, tx, in.UserID, by, at, opsflow.AuditEvent{
		Action: "token.issued", Field: "tokens", New: t.ID, Reason: strings.Join(parts, "; "),
	})
	return token, t.utc(), err
}

// SetUserRoles replaces the roles of an existing user, as by, for reason,
// and records the change (old → new) on the user's audit stream. Setting
// the roles a user already has changes and records nothing. It returns
// the roles the user had.
func (db *DB) SetUserRoles(ctx context.Context, id string, roles []opsflow.Role, by opsflow.Actor, reason string) ([]opsflow.Role, error) {
	if len(roles) == 0 {
		return nil, opsflow.Invalid("roles", "at least one role is required")
	}
	for _, r := range roles {
		if _, err := opsflow.ParseRoles(string(r)); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(reason) == "" {
		return nil, opsflow.Invalid("reason", "say why the roles change: the reason is recorded in the audit trail")
	}
	var old []opsflow.Role
	err := db.InTx(ctx, func(tx *sqlx.Tx) error {
		u, found, err := lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if !found {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such user: " + id}
		}
		old = u.Roles
		if opsflow.SameRoles(u.Roles, roles) {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET roles = $2, updated_at = now() WHERE id = $1`, id, rolesArray(roles)); err != nil {
			return wrap("save roles", err)
		}
		if err := announceAuthChange(ctx, tx, id); err != nil {
			return err
		}
		return auditUser(ctx, tx, id, by, time.Now(), opsflow.AuditEvent{
			Action: "user.roles_changed", Field: "roles", Old: rolesText(u.Roles), New: rolesText(roles), Reason: reason,
		})
	})
	return old, err
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
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())`, hashToken(token))
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

// RevokeToken revokes a token by ID, with the system as the recorded actor
// (see RevokeTokenBy).
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	return db.RevokeTokenBy(ctx, id, opsflow.SystemActor)
}

// RevokeTokenBy revokes a token by ID on behalf of by, and records it on
// its user's audit stream. Revoking it again keeps the first revocation
// time and records nothing.
func (db *DB) RevokeTokenBy(ctx context.Context, id string, by opsflow.Actor) error {
	return db.InTx(ctx, func(tx *sqlx.Tx) error {
		var userID string
		err := tx.GetContext(ctx, &userID, `SELECT user_id FROM api_tokens WHERE id = $1`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such token: " + id}
		}
		if err != nil {
			return wrap("revoke token", err)
		}
		if _, _, err := lockUser(ctx, tx, userID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
		if err != nil {
			return wrap("revoke token", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return nil // revoked before
		}
		if err := announceAuthChange(ctx, tx, userID); err != nil {
			return err
		}
		return auditUser(ctx, tx, userID, by, time.Now(), opsflow.AuditEvent{Action: "token.revoked", Field: "tokens", Old: id})
	})
}

// ListTokens lists the tokens of one user, or of everyone when userID is
// "", newest first.
func (db *DB) ListTokens(ctx context.Context, userID string) ([]Token, error) {
	tokens := []Token{}
	err := db.db.SelectContext(ctx, &tokens, `
		SELECT `+tokenColumns+` FROM api_tokens
		WHERE $1 = '' OR user_id = $1 ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	for i := range tokens {
		tokens[i] = tokens[i].utc()
	}
	return tokens, nil
}

const tokenColumns = `id, user_id, label, created_at, last_used_at, revoked_at, expires_at, COALESCE(issued_by, '') AS issued_by`

func (t Token) utc() Token {
	t.CreatedAt = t.CreatedAt.UTC()
	t.LastUsedAt, t.RevokedAt, t.ExpiresAt = utcPtr(t.LastUsedAt), utcPtr(t.RevokedAt), utcPtr(t.ExpiresAt)
	return t
}

// TokenFilter selects tokens for the admin list: one user's, in one state
// (active, revoked, expired; "" for all), a page at a time, newest first.
type TokenFilter struct {
	UserID string
	State  string
	Limit  int
	Cursor string
}

type tokenCursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"i"`
}

// TokenPage lists tokens by f.
func (db *DB) TokenPage(ctx context.Context, f TokenFilter) (opsflow.Page[Token], error) {
	page := opsflow.Page[Token]{Items: []Token{}}
	var w where
	if f.UserID != "" {
		w.add("user_id = " + w.arg(f.UserID))
	}
	switch f.State {
	case "":
	case "active":
		w.add("revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())")
	case "revoked":
		w.add("revoked_at IS NOT NULL")
	case "expired":
		w.add("revoked_at IS NULL AND expires_at <= now()")
	default:
		return page, opsflow.Invalid("state", "state must be active, revoked or expired")
	}
	if f.Cursor != "" {
		var c tokenCursor
		if err := decodeCursor(f.Cursor, &c); err != nil {
			return page, err
		}
		w.add("(created_at, id) < (" + w.arg(c.CreatedAt) + ", " + w.arg(c.ID) + ")")
	}
	limit := pageSize(f.Limit)
	var rows []Token
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+tokenColumns+` FROM api_tokens `+w.sql()+
		` ORDER BY created_at DESC, id DESC LIMIT `+w.arg(limit+1), w.args...); err != nil {
		return page, wrap("list tokens", err)
	}
	for i, t := range rows {
		if i == limit {
			last := rows[limit-1]
			page.NextCursor = encodeCursor(tokenCursor{CreatedAt: last.CreatedAt, ID: last.ID})
			break
		}
		page.Items = append(page.Items, t.utc())
	}
	return page, nil
}

// GetToken returns one token by ID.
func (db *DB) GetToken(ctx context.Context, id string) (Token, error) {
	var t Token
	err := db.db.GetContext(ctx, &t, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return t, &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such token: " + id}
	}
	if err != nil {
		return t, wrap("get token", err)
	}
	return t.utc(), nil
}
