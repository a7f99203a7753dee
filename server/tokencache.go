package server

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"github.com/opsflow/opsflow"
)

// tokenTTL is how long a token that authenticated is trusted without
// asking PostgreSQL again; in exchange, a step costs one database round
// trip less. A revocation or a change of roles clears the cache at once
// (ForgetTokens, which 'opsflow api' calls for every change PostgreSQL
// announces, whichever API process made it); without that, a revoked
// token would stop working within this time.
const tokenTTL = 5 * time.Second

// tokenCache remembers recently authenticated tokens, keyed by their
// SHA-256 (the token itself is never kept).
type tokenCache struct {
	mu      sync.Mutex
	entries map[[32]byte]cachedUser
}

type cachedUser struct {
	user    opsflow.User
	expires time.Time
}

// maxCachedTokens bounds the cache; when full it starts afresh, which is
// cheaper than an LRU and costs one lookup per token.
const maxCachedTokens = 10000

func (c *tokenCache) get(token string, now time.Time) (opsflow.User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sha256.Sum256([]byte(token))]
	if !ok || now.After(e.expires) {
		return opsflow.User{}, false
	}
	return e.user, true
}

func (c *tokenCache) put(token string, u opsflow.User, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = map[[32]byte]cachedUser{}
	}
	c.entries[sha256.Sum256([]byte(token))] = cachedUser{user: u, expires: now.Add(tokenTTL)}
}

// clear forgets every token (after a revocation).
func (c *tokenCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
}

// ForgetTokens forgets every token the server trusted without asking
// PostgreSQL: one was revoked, or someone's roles changed, maybe through
// another API process (postgres.ListenAuth).
func (s *Server) ForgetTokens() { s.tokens.clear() }

// tokenKey is a token's key in the rate limits: its SHA-256, so the
// limiter never holds a usable secret.
func tokenKey(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:16])
}
