package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
)

// healthz answers while the process runs: liveness only.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type check struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// readyz answers 200 when PostgreSQL and Temporal both answer, else 503
// naming the one that does not.
func (s *Server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	checks := map[string]check{"postgres": {Status: "ok"}, "temporal": {Status: "ok"}}
	var down []string
	if err := s.Store.Ping(ctx); err != nil {
		checks["postgres"] = check{Status: "unavailable", Error: "PostgreSQL does not answer"}
		down = append(down, "postgres")
	}
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"] = check{Status: "unavailable", Error: "Temporal does not answer"}
		down = append(down, "temporal")
	}
	if len(down) == 0 {
		return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": checks})
	}
	msg := "not ready: " + down[0]
	if len(down) > 1 {
		msg += " and " + down[1]
	}
	msg += " unavailable"
	return c.JSON(http.StatusServiceUnavailable, map[string]any{
		"status": "unavailable", "checks": checks,
		"error": map[string]string{"code": "unavailable", "message": msg},
	})
}
