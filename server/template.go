package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// templateRequest is the body of POST /v1/onboarding-templates.
type templateRequest struct {
	Role        string                 `json:"role"`
	Title       string                 `json:"title"`
	Description string                 `json:"description,omitempty"`
	Tasks       []opsflow.TaskTemplate `json:"tasks"`
}

// createTemplate stores the next version of a role's template (201), or
// answers 200 with the latest version when nothing changed.
func (s *Server) createTemplate(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleHR, opsflow.RoleAdmin); err != nil {
		return err
	}
	var in templateRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	t := opsflow.OnboardingTemplate{Role: in.Role, Title: in.Title, Description: in.Description, Tasks: in.Tasks, CreatedBy: userOf(c).ID}
	if err := t.Validate(); err != nil {
		return err
	}
	out, created, err := s.Store.CreateTemplate(c.Request().Context(), t)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.InfoContext(c.Request().Context(), "onboarding template version created", "role", out.Role, "version", out.Version, "user", userOf(c).ID)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/onboarding-templates/"+out.Role+"?version="+itoa(out.Version))
	return c.JSON(status, out)
}

// listTemplates answers the latest version of every role's template.
func (s *Server) listTemplates(c echo.Context) error {
	all, err := s.Store.LatestTemplates(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": all})
}

// getTemplate answers a role's latest template, or ?version=N.
func (s *Server) getTemplate(c echo.Context) error {
	v, err := queryInt(c, "version", 0, 1, 1<<30)
	if err != nil {
		return err
	}
	t, err := s.Store.Template(c.Request().Context(), c.Param("role"), v)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}
