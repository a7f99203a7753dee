package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// idempotencyStore remembers which request first used a key.
type idempotencyStore interface {
	ClaimIdempotencyKey(ctx context.Context, userID, key, fingerprint, method, path string) (postgres.IdempotencyClaim, error)
}

// idempotency refuses an Idempotency-Key reused for a different request
// (another body, method or path) with 422 naming the header, as the IETF
// Idempotency-Key draft asks: answering with the first request's result
// would silently lose the second. The same request again goes through, and
// Temporal's workflow and update IDs derived from the key make it change
// nothing.
func (s *Server) idempotency(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		key := r.Header.Get(headerIdempotencyKey)
		if key == "" || r.Method != http.MethodPost {
			return next(c)
		}
		if _, err := idempotencyKey(c); err != nil {
			return err
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		h := sha256.New()
		h.Write([]byte(r.Method + " " + r.URL.Path + "\n"))
		h.Write(body)
		fp := hex.EncodeToString(h.Sum(nil))
		claim, err := s.Store.ClaimIdempotencyKey(r.Context(), userOf(c).ID, key, fp, r.Method, r.URL.Path)
		if err != nil {
			return err
		}
		if claim.Fingerprint != fp {
			return opsflow.Invalid(headerIdempotencyKey, "this Idempotency-Key was first used for a different request (%s %s, %s); use a new key for a new request",
				claim.Method, claim.Path, claim.CreatedAt.Format(time.RFC3339))
		}
		return next(c)
	}
}
