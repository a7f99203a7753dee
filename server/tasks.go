package server

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
)

// listTasks is the one inbox across processes: GET /v1/tasks. By default
// it is the caller's: assigned to them or queued for one of their roles,
// still to do (open, in progress, blocked), soonest due first (so overdue
// first). Filters: assignee (a user, or me), role, state (or all),
// overdue, process_kind, process_id; keyset pagination.
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
	// Without a filter naming whose tasks, or with assignee=me, this is
	// the caller's inbox: assigned to them or queued for one of their
	// roles.
	if f.Assignee == "me" || (f.Assignee == "" && f.Role == "" && f.ProcessID == "") {
		u := userOf(c)
		f.Assignee, f.Mine = "", &u
	}
	if f.Role != "" && !slices.Contains(opsflow.Roles, f.Role) {
		return opsflow.Invalid("role", "unknown role %q", f.Role)
	}
	// What a person must still do, unless a state (or all) is asked for.
	switch {
	case f.State == "all":
		f.State = ""
	case f.State == "":
		f.States = []opsflow.TaskState{opsflow.TaskOpen, opsflow.TaskInProgress, opsflow.TaskBlocked}
	case !slices.Contains(opsflow.TaskStates, f.State):
		return opsflow.Invalid("state", "unknown task state %q (or all)", f.State)
	}
	if k := f.ProcessKind; k != "" && k != opsflow.KindCAPA && k != opsflow.KindKaizen && k != opsflow.KindOnboarding && k != opsflow.KindKPI {
		return opsflow.Invalid("process_kind", "process_kind must be capa, kaizen, onboarding or kpi")
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
