package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// listTasks is the one inbox across processes: GET /v1/tasks with filters
// assignee ("me" for the caller), role, state, overdue, process_kind,
// process_id, and keyset pagination.
func (s *Server) listTasks(c echo.Context) error {
	f := opsflow.TaskFilter{
		Assignee:    c.QueryParam("assignee"),
		Role:        opsflow.Role(c.QueryParam("role")),
		State:       opsflow.TaskState(c.QueryParam("state")),
		ProcessKind: opsflow.Kind(c.QueryParam("process_kind")),
		ProcessID:   c.QueryParam("process_id"),
		Cursor:      c.QueryParam("cursor"),
		Now:         s.Now().UTC(),
	}
	if f.Assignee == "me" {
		f.Assignee = userOf(c).ID
	}
	if f.Role != "" && !slices.Contains(opsflow.Roles, f.Role) {
		return opsflow.Invalid("role", "unknown role %q", f.Role)
	}
	states := []opsflow.TaskState{opsflow.TaskScheduled, opsflow.TaskOpen, opsflow.TaskInProgress, opsflow.TaskBlocked, opsflow.TaskDone, opsflow.TaskSkipped, opsflow.TaskCancelled}
	if f.State != "" && !slices.Contains(states, f.State) {
		return opsflow.Invalid("state", "unknown task state %q", f.State)
	}
	if k := f.ProcessKind; k != "" && k != opsflow.KindCAPA && k != opsflow.KindKaizen && k != opsflow.KindOnboarding {
		return opsflow.Invalid("process_kind", "process_kind must be capa, kaizen or onboarding")
	}
	var err error
	if f.Overdue, err = queryBool(c, "overdue"); err != nil {
		return err
	}
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	page, err := s.Store.ListTasks(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []opsflow.TaskRow{}
	}
	return c.JSON(http.StatusOK, page)
}
