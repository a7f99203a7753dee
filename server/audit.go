package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// verifyAudit recomputes the hash chains (of one stream with ?stream=, else
// of all) and reports the first broken link.
func (s *Server) verifyAudit(c echo.Context) error {
	if err := requireAny(c, opsflow.RolesAudit...); err != nil {
		return err
	}
	rep, err := s.Store.VerifyAudit(c.Request().Context(), c.QueryParam("stream"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// me answers who the caller is: handy for checking a token.
func (s *Server) me(c echo.Context) error { return c.JSON(http.StatusOK, userOf(c)) }
