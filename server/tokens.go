package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// tokenStore issues, lists and revokes API tokens (*postgres.DB).
type tokenStore interface {
	IssueTokenFor(ctx context.Context, in postgres.TokenIssue, by opsflow.Actor) (string, postgres.Token, error)
	TokenPage(ctx context.Context, f postgres.TokenFilter) (opsflow.Page[postgres.Token], error)
	GetToken(ctx context.Context, id string) (postgres.Token, error)
	RevokeTokenBy(ctx context.Context, id string, by opsflow.Actor) error
}

// tokenInfo is an API token as its holder and administrators see it:
// never the token, only its ID (derived from its hash), owner, label,
// times, issuer and state.
type tokenInfo struct {
	postgres.Token
	State string `json:"state"` // active, revoked, expired
}

func (s *Server) tokenInfo(t postgres.Token) tokenInfo {
	return tokenInfo{Token: t, State: t.State(s.Now())}
}

// tokenRequest asks for a new API token: what it is for and when it
// stops working.
type tokenRequest struct {
	Label string `json:"label"`
	// Expires is a number of days (90d), a duration (12h), a date or an
	// RFC 3339 time; left out, opsflow.DefaultTokenLifetime from now.
	Expires string `json:"expires,omitempty"`
}

// adminTokenRequest is an administrator's request for someone else's
// token, which says why.
type adminTokenRequest struct {
	tokenRequest
	Reason string `json:"reason"`
}

// newToken is a token just issued: the token itself, in this answer only
// (the store keeps its hash), and what is kept of it.
type newToken struct {
	Secret string `json:"token"`
	tokenInfo
}

// tokenPage answers a page of tokens: one user's, or everyone's ("").
func (s *Server) tokenPage(c echo.Context, userID string) error {
	f := postgres.TokenFilter{UserID: userID, State: c.QueryParam("state"), Cursor: c.QueryParam("cursor")}
	var err error
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	page, err := s.Store.TokenPage(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := opsflow.Page[tokenInfo]{Items: make([]tokenInfo, len(page.Items)), NextCursor: page.NextCursor}
	for i, t := range page.Items {
		out.Items[i] = s.tokenInfo(t)
	}
	return c.JSON(http.StatusOK, out)
}

// listTokens: GET /v1/admin/tokens (admin), by user and state.
func (s *Server) listTokens(c echo.Context) error {
	return s.tokenPage(c, c.QueryParam("user"))
}

// listMyTokens: GET /v1/me/tokens — the caller's own.
func (s *Server) listMyTokens(c echo.Context) error {
	return s.tokenPage(c, userOf(c).ID)
}

// createMyToken: POST /v1/me/tokens — a person issues a token for
// themself, which acts as them. Not a person linked to single sign-on:
// the organisation's provider decides who they are and what they may do,
// and a token of their own would go on acting for them after the provider
// took that away; an administrator may still issue one, with a reason.
func (s *Server) createMyToken(c echo.Context) error {
	var in tokenRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	me, err := s.Store.Account(c.Request().Context(), userOf(c).ID)
	if err != nil {
		return err
	}
	if me.SSO != nil {
		return opsflow.Forbidden("your access is managed by your organisation's single sign-on, so you cannot create API tokens yourself: a token would outlive a change there. Ask an administrator, who can issue one with a reason")
	}
	return s.issueToken(c, userOf(c).ID, in, "")
}

// issueUserToken: POST /v1/admin/users/{id}/tokens (admin) — a token for
// an existing user, e.g. the first of a person created on the web, for a
// reason recorded on their stream. It never changes who they are.
func (s *Server) issueUserToken(c echo.Context) error {
	var in adminTokenRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Reason) == "" {
		return opsflow.Invalid("reason", "say why you issue %s a token: the reason is recorded in their audit trail", c.Param("id"))
	}
	return s.issueToken(c, c.Param("id"), in.tokenRequest, strings.TrimSpace(in.Reason))
}

// issueToken issues a token for user id as the caller, and answers it
// once (201). The Idempotency-Key goes to the store, which refuses a
// repeat (409) rather than mint a second token: the first one's secret
// is not kept, so it cannot be answered again.
func (s *Server) issueToken(c echo.Context, userID string, in tokenRequest, reason string) error {
	label, err := opsflow.CheckTokenLabel(in.Label)
	if err != nil {
		return err
	}
	expires, err := opsflow.TokenExpiry(in.Expires, s.Now())
	if err != nil {
		return err
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	secret, t, err := s.Store.IssueTokenFor(c.Request().Context(),
		postgres.TokenIssue{UserID: userID, Label: label, Expires: &expires, Reason: reason, Key: key}, actorOf(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, newToken{Secret: secret, tokenInfo: s.tokenInfo(t)})
}

// revokeToken: POST /v1/admin/tokens/{id}/revoke (admin). Revoking again
// changes nothing.
func (s *Server) revokeToken(c echo.Context) error {
	return s.revoke(c, c.Param("id"))
}

// revokeMyToken: POST /v1/me/tokens/{id}/revoke — one's own token only:
// someone else's is answered as one that does not exist.
func (s *Server) revokeMyToken(c echo.Context) error {
	id := c.Param("id")
	t, err := s.Store.GetToken(c.Request().Context(), id)
	if err != nil && opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		return err
	}
	if err != nil || t.UserID != userOf(c).ID {
		return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: "no such token: " + id}
	}
	return s.revoke(c, id)
}

// revoke revokes token id as the caller and answers it. This API instance
// forgets the tokens it remembered at once; the others when PostgreSQL
// announces it (ForgetTokens).
func (s *Server) revoke(c echo.Context, id string) error {
	ctx := c.Request().Context()
	if err := s.Store.RevokeTokenBy(ctx, id, actorOf(c)); err != nil {
		return err
	}
	s.tokens.clear()
	t, err := s.Store.GetToken(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.tokenInfo(t))
}
