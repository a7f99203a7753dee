package server

import (
	"context"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/sso"
)

const userKey = "opsflow.user"

// authenticate requires a bearer token on every /v1 route and puts its user
// on the context. The actor of every change is this user, never a field of
// the request body.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.inProcess(c) { // the web app, for the person its session signed in
			return next(c)
		}
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="opsflow"`)
			return opsflow.Errorf(opsflow.EUNAUTHORIZED, "missing bearer token: send Authorization: Bearer <token>")
		}
		token = strings.TrimSpace(token)
		u, cached := s.tokens.get(token, time.Now())
		credential := "token:" + tokenKey(token)
		var err error
		if !cached {
			if s.SSO != nil && sso.LooksLikeJWT(token) {
				// A JWT from the configured issuer (single sign-on).
				u, err = s.authenticateSSO(c.Request().Context(), token)
			} else {
				u, err = s.Store.Authenticate(c.Request().Context(), token)
			}
			if err == nil {
				s.tokens.put(token, u, time.Now())
			}
		}
		if opsflow.ErrorCode(err) == opsflow.EFORBIDDEN {
			return err // a valid sign-on this opsflow refuses (no role, a reserved or taken ID)
		}
		if err != nil {
			// Only a token the store looked up and refused is a 401: a
			// database that does not answer says nothing about the token,
			// and a client that took a 503 for a 401 would throw a good
			// token away.
			if opsflow.ErrorCode(err) != opsflow.EUNAUTHORIZED {
				return err
			}
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="opsflow", error="invalid_token"`)
			return opsflow.Errorf(opsflow.EUNAUTHORIZED, "invalid or revoked token")
		}
		if s.SSO != nil && sso.LooksLikeJWT(token) {
			credential = "sso:" + u.ID // JWTs rotate: the budget is the person's
		}
		c.Set(userKey, u)
		c.Set(credentialKey, credential)
		c.Set(requestAtKey, s.Now().UTC())
		return next(c)
	}
}

// userOf returns the authenticated user.
func userOf(c echo.Context) opsflow.User {
	u, _ := c.Get(userKey).(opsflow.User)
	return u
}

// actorOf returns the authenticated user as the actor of a change, acting
// when the request arrived.
func actorOf(c echo.Context) opsflow.Actor {
	at, _ := c.Get(requestAtKey).(time.Time)
	return opsflow.ActorOf(userOf(c), at)
}

// requestAtKey holds the time the API received the request.
const requestAtKey = "request_at"

// requireAny fails with 403 unless the user holds one of roles.
func requireAny(c echo.Context, roles ...opsflow.Role) error {
	u := userOf(c)
	for _, r := range roles {
		if u.Has(r) {
			return nil
		}
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return opsflow.Forbidden("this needs one of the roles: %s", strings.Join(names, ", "))
}

// ssoStore provisions people who sign on (*postgres.DB).
type ssoStore interface {
	ProvisionSSO(ctx context.Context, issuer, subject string, u opsflow.User) (opsflow.User, error)
}

// authenticateSSO verifies a JWT bearer token from the configured issuer
// and makes its person a user (provisioned the first time, audited).
func (s *Server) authenticateSSO(ctx context.Context, token string) (opsflow.User, error) {
	id, err := s.SSO.VerifyBearer(ctx, token)
	if err != nil {
		return opsflow.User{}, err
	}
	return s.ProvisionSSO(ctx, id)
}

// ProvisionSSO is the server's sso.Provisioner: the store, keyed by the
// issuer and subject.
func (s *Server) ProvisionSSO(ctx context.Context, id sso.Identity) (opsflow.User, error) {
	return s.Store.ProvisionSSO(ctx, id.Issuer, id.Subject, id.User)
}
