package opsflow

import "time"

// Session is a person signed in to the web app. The browser holds only a
// random secret in a cookie; the store keeps its hash, whom it is for, how
// they signed in and the per-session token every form must echo (CSRF).
// User is read afresh on every lookup, so a changed role or a revoked
// token takes effect on the next page.
type Session struct {
	User User `json:"user"`
	// Method is how the person signed in: "token" today, "sso" once
	// single sign-on exists.
	Method string `json:"method"`
	// CSRF is the secret every form of this session posts back.
	CSRF string `json:"-"`
	// TokenID is the API token the person signed in with (its ID, never
	// the token; "" for other methods): revoking it ends the session.
	TokenID   string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// NewSession is what starts a session: whom for, how they signed in, the
// API token used (the store keeps only which token it was: revoking it
// ends the session; empty for other methods), and how long the session
// may last at most and while idle.
type NewSession struct {
	UserID string
	Method string
	Token  string
	TTL    time.Duration
	Idle   time.Duration
}
