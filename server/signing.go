package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/secret"
)

// signingStore keeps signing passwords and their failed attempts
// (*postgres.DB).
type signingStore interface {
	SigningCredential(ctx context.Context, userID string) (string, opsflow.SigningLock, bool, error)
	SetSigningPassword(ctx context.Context, userID, hash string, by opsflow.Actor) error
	RecordSigningFailure(ctx context.Context, userID, what string, policy opsflow.SigningPolicy) (opsflow.SigningLock, error)
	RecordSigningRefused(ctx context.Context, userID, what string, until time.Time) error
	RecordSigningSuccess(ctx context.Context, userID string) error
	UnlockSigning(ctx context.Context, userID string, by opsflow.Actor, reason string) (opsflow.SigningLock, error)
}

// signingPolicy is the lockout in force.
func (s *Server) signingPolicy() opsflow.SigningPolicy {
	p := opsflow.DefaultSigningPolicy()
	if s.Signing.MaxFailures > 0 {
		p.MaxFailures = s.Signing.MaxFailures
	}
	if s.Signing.Lockout > 0 {
		p.Lockout = s.Signing.Lockout
	}
	if s.Signing.MinLength > 0 {
		p.MinLength = s.Signing.MinLength
	}
	return p
}

// checkSignature re-authenticates the signer of a signed step (Part 11
// §11.200): the signing password they entered must be theirs. A wrong
// one is recorded on their audit stream and counts towards the lockout;
// a right one is blanked and the signature marked as checked, so only
// that reaches the workflow. A step given no signature is left to the
// step's validation (422 when it needs one).
func (s *Server) checkSignature(c echo.Context, sig *opsflow.ESign, st opsflow.Step) error {
	if sig == nil {
		return nil
	}
	field := "signature.signing_password"
	if st.Name == opsflow.CAPAStep.SignClosure.Name {
		field = "signing_password"
	}
	sig.Method = ""
	if sig.Password == "" {
		return opsflow.Invalid(field, "enter your signing password to sign")
	}
	what := fmt.Sprintf("%s %s of %s", st.Kind, st.Name, c.Param("id"))
	if err := s.verifySigningPassword(c.Request().Context(), userOf(c), sig.Password, field, what); err != nil {
		return err
	}
	sig.Verified(opsflow.SignMethodPassword)
	return nil
}

// verifySigningPassword checks password against u's signing password,
// under the lockout: a refusal is a 403 naming field, and is recorded.
func (s *Server) verifySigningPassword(ctx context.Context, u opsflow.User, password, field, what string) error {
	hash, lock, found, err := s.Store.SigningCredential(ctx, u.ID)
	if err != nil {
		return err
	}
	if !found {
		return &opsflow.Error{Code: opsflow.EFORBIDDEN, Field: field,
			Message: "you have no signing password yet: set one with PUT /v1/me/signing-password (or ask an administrator: opsflow user set-signing-password)"}
	}
	now := s.Now()
	if lock.LockedUntil != nil && lock.LockedUntil.After(now) {
		if err := s.Store.RecordSigningRefused(ctx, u.ID, what, *lock.LockedUntil); err != nil {
			return err
		}
		return &opsflow.Error{Code: opsflow.EFORBIDDEN, Field: field, Message: fmt.Sprintf(
			"signing is locked until %s after %d wrong signing passwords; an administrator can unlock it", lock.LockedUntil.UTC().Format(time.RFC3339), lock.Failures)}
	}
	ok, err := secret.Check(ctx, password, hash)
	if err != nil {
		return fmt.Errorf("signing password of %s: %w", u.ID, err)
	}
	if !ok {
		policy := s.signingPolicy()
		after, err := s.Store.RecordSigningFailure(ctx, u.ID, what, policy)
		if err != nil {
			return err
		}
		msg := fmt.Sprintf("wrong signing password: nothing was signed (%d of %d attempts before signing locks)", after.Failures, policy.MaxFailures)
		if after.LockedUntil != nil && after.LockedUntil.After(now) {
			msg = fmt.Sprintf("wrong signing password: nothing was signed, and signing is now locked until %s", after.LockedUntil.UTC().Format(time.RFC3339))
		}
		return &opsflow.Error{Code: opsflow.EFORBIDDEN, Field: field, Message: msg}
	}
	if lock.Failures > 0 {
		return s.Store.RecordSigningSuccess(ctx, u.ID)
	}
	return nil
}

// signingPasswordRequest sets the caller's signing password; the current
// one is needed when one is set.
type signingPasswordRequest struct {
	Current string `json:"current_password,omitempty"`
	New     string `json:"new_password"`
}

// putSigningPassword: PUT /v1/me/signing-password.
func (s *Server) putSigningPassword(c echo.Context) error {
	var in signingPasswordRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	ctx, u := c.Request().Context(), userOf(c)
	if err := s.signingPolicy().CheckSigningPassword(u, in.New); err != nil {
		return opsflow.Invalid("new_password", "%s", opsflow.ErrorMessage(err))
	}
	_, _, found, err := s.Store.SigningCredential(ctx, u.ID)
	if err != nil {
		return err
	}
	if found {
		if in.Current == "" {
			return opsflow.Invalid("current_password", "you have a signing password: give it as current_password to change it")
		}
		if err := s.verifySigningPassword(ctx, u, in.Current, "current_password", "a change of the signing password"); err != nil {
			return err
		}
	}
	hash, err := secret.Hash(ctx, in.New, secret.Default)
	if err != nil {
		return err
	}
	if err := s.Store.SetSigningPassword(ctx, u.ID, hash, actorOf(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// unlockRequest lifts a signing lock.
type unlockRequest struct {
	Reason string `json:"reason"`
}

// unlockSigning: POST /v1/admin/users/{id}/unlock-signing (admin).
func (s *Server) unlockSigning(c echo.Context) error {
	var in unlockRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return opsflow.Invalid("reason", "say why signing is unlocked: the reason is recorded on the user's audit stream")
	}
	lock, err := s.Store.UnlockSigning(c.Request().Context(), c.Param("id"), actorOf(c), in.Reason)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, lock)
}
