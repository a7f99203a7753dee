package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// tokenStore lists and revokes API tokens (*postgres.DB).
type tokenStore interface {
	TokenPage(ctx context.Context, f postgres.TokenFilter) (opsflow.Page[postgres.Token], error)
	GetToken(ctx context.Context, id string) (postgres.Token, error)
	RevokeTokenBy(ctx context.Context, id string, by opsflow.Actor) error
}

// tokenInfo is an API token as an administrator sees it: never the token,
// only its ID (derived from its hash), owner, label, times and state.
type tokenInfo struct {
	postgres.Token
	State string `json:"state"` // active, revoked, expired
}

func (s *Server) tokenInfo(t postgres.Token) tokenInfo {
	return tokenInfo{Token: t, State: t.State(s.Now())}
}

// listTokens: GET /v1/admin/tokens (admin).
func (s *Server) listTokens(c echo.Context) error {
	f := postgres.TokenFilter{UserID: c.QueryParam("user"), State: c.QueryParam("state"), Cursor: c.QueryParam("cursor")}
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

// revokeToken: POST /v1/admin/tokens/{id}/revoke (admin). Revoking again
// changes nothing. This API instance forgets the tokens it remembered at
// once; the others when PostgreSQL announces it (ForgetTokens).
func (s *Server) revokeToken(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
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
