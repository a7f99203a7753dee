package server

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// kindOf names the kind of a process from its ID's prefix.
func kindOf(id string) (opsflow.Kind, bool) {
	for _, k := range []opsflow.Kind{opsflow.KindCAPA, opsflow.KindKaizen, opsflow.KindOnboarding} {
		if strings.HasPrefix(id, k.IDPrefix()) {
			return k, true
		}
	}
	return "", false
}

// listAdminProcesses: GET /v1/admin/processes — every kind, with the
// stalled filter an administrator starts from (?stalled=true).
func (s *Server) listAdminProcesses(c echo.Context) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	var kind opsflow.Kind
	if k := c.QueryParam("kind"); k != "" {
		kind = opsflow.Kind(k)
		if _, ok := kindOf(kind.IDPrefix()); !ok {
			return opsflow.Invalid("kind", "kind must be capa, kaizen or onboarding")
		}
	}
	return s.listProcesses(c, kind)
}

// adminAction is the body of an administrator's action that says why: a
// process abandoned or retried, a sign-on identity unlinked.
type adminAction struct {
	Reason string `json:"reason"`
}

// retryStalled: POST /v1/admin/processes/{id}/retry — write a stalled
// process's held changes again, once the cause is fixed.
func (s *Server) retryStalled(c echo.Context) error {
	return s.adminStep(c, workflows.UpdateRetryStalled)
}

// abandonStalled: POST /v1/admin/processes/{id}/abandon — end a stalled
// process, dropping the changes the store refused; the reason is required
// and recorded in the trail.
func (s *Server) abandonStalled(c echo.Context) error {
	return s.adminStep(c, workflows.UpdateAbandon)
}

func (s *Server) adminStep(c echo.Context, update string) error {
	if err := requireAny(c, opsflow.RoleAdmin); err != nil {
		return err
	}
	var in adminAction
	if c.Request().ContentLength != 0 {
		if err := bindStep(c, &in); err != nil {
			return err
		}
	}
	if update == workflows.UpdateAbandon && strings.TrimSpace(in.Reason) == "" {
		return opsflow.Invalid("reason", "say why the process is abandoned")
	}
	kind, ok := kindOf(c.Param("id"))
	if !ok {
		return notFound("process", c.Param("id"))
	}
	return s.updateProcess(c, kind, update, workflows.AdminAction{Actor: actorOf(c), Reason: in.Reason})
}
