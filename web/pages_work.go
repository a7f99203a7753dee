package web

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/opsflow/opsflow"
)

// My work: the inbox (GET /v1/tasks: assigned to me or queued for my
// roles, still to do, soonest due — so overdue — first), grouped by how
// urgent, each task with the forms that move it, or a link to the step
// that completes it.

// workRow is a task as the page shows it. Its fields are its own, not
// embedded: templates look fields up by name on every row, and a lookup
// through embedded structs is a search.
type workRow struct {
	ID, Title, Description string
	State                  opsflow.TaskState
	DueAt                  *time.Time
	Overdue                bool
	EscalationLevel        int
	ProcessKind            opsflow.Kind
	ProcessTitle           string
	URL                    string  // the record's page
	Forms                  []*Form // the moves the record's gate allows me
	// ByStep is set when the task finishes with a step of its process
	// (triage, a decision, a check-in): the page to take it on.
	ByStep bool
}

type workGroup struct {
	Title string
	Rows  []workRow
}

type workView struct {
	Groups []workGroup
	Pager  pager
	Empty  bool
	Now    time.Time
}

func (a *App) myWork(w http.ResponseWriter, r *http.Request, s *session) {
	v, err := a.buildWork(r.Context(), s, listQuery(r))
	if err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	a.render(w, r, http.StatusOK, "work", a.frame(w, r, s, "My work", "work"), v)
}

// workPage is how many tasks My work shows at a time: each comes with its
// forms, and a shorter page stays quick on a phone and on the server.
const workPage = 30

func (a *App) buildWork(ctx context.Context, s *session, q url.Values) (*workView, error) {
	now := a.Now().UTC()
	var page opsflow.Page[opsflow.TaskRow]
	aq := cloneValues(q)
	aq.Set("limit", itoa(workPage))
	if err := a.get(ctx, s, "/v1/tasks", aq, &page); err != nil {
		return nil, err
	}
	// The records behind this page's tasks, in one read: their gates say
	// which moves are open to me.
	var ids []string
	for _, t := range page.Items {
		ids = append(ids, t.ProcessID)
	}
	gates := map[string]opsflow.Gate{}
	if len(ids) > 0 {
		rows, err := a.Store.GetProcesses(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, p := range rows {
			if g, err := opsflow.GateOf(p.Kind, p.Record); err == nil {
				gates[p.ID] = g
			} else {
				a.Logger.WarnContext(ctx, "web: gate", "process", p.ID, "err", err)
			}
		}
	}
	v := &workView{Now: now, Pager: newPager("/", q, page.NextCursor), Empty: len(page.Items) == 0}
	groups := []workGroup{{Title: "Overdue"}, {Title: "Due within 3 days"}, {Title: "Later"}, {Title: "No due date"}}
	actor := s.actor()
	for _, t := range page.Items {
		ki := kindInfo(t.ProcessKind)
		row := workRow{ID: t.ID, Title: t.Title, Description: t.Description, State: t.State, DueAt: t.DueAt, Overdue: t.Overdue,
			EscalationLevel: t.EscalationLevel, ProcessKind: t.ProcessKind, ProcessTitle: t.ProcessTitle, URL: recordURL(ki, t.ProcessID)}
		if g, ok := gates[t.ProcessID]; ok {
			row.Forms = taskForms(ki, g, t.ProcessID, t.Task, actor, s.CSRF, nil)
			for _, f := range row.Forms {
				f.Back = "/"
			}
			row.ByStep = g.CanMoveTask(t.ID, opsflow.TaskDone, actor) != nil
		}
		i := 3
		switch {
		case t.Overdue:
			i = 0
		case t.DueAt != nil && t.DueAt.Before(now.Add(soon)):
			i = 1
		case t.DueAt != nil:
			i = 2
		}
		groups[i].Rows = append(groups[i].Rows, row)
	}
	for _, g := range groups {
		if len(g.Rows) > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	return v, nil
}
