package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/opsflow/opsflow"
)

// ---- the onboarding board: one row per hire

var onboardingFilters = []string{"state", "manager", "role", "overdue", "start_from", "start_to"}

type hireRow struct {
	O           opsflow.Onboarding
	NextCheckin *opsflow.Task
}

type onboardingBoardView struct {
	Rows   []hireRow
	Filter filterView
	Pager  pager
	States []Option
	Start  *Form
	Now    time.Time
}

func (a *App) onboardingBoard(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildOnboardingBoard(r.Context(), s, listQuery(r, onboardingFilters...), nil)
	a.show(w, r, s, out, err)
}

// nextCheckin is the first check-in not yet held.
func nextCheckin(o opsflow.Onboarding) *opsflow.Task {
	for _, day := range opsflow.CheckinDays {
		if t, err := o.Board.Find(opsflow.CheckinTaskID(day)); err == nil && !t.State.Final() {
			return t
		}
	}
	return nil
}

func (a *App) buildOnboardingBoard(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	v := &onboardingBoardView{Filter: filterView{Values: q}, States: opts(opsflow.OnboardingStates), Now: a.Now().UTC()}
	var page opsflow.Page[opsflow.Onboarding]
	if err := a.getFiltered(ctx, s, "/v1/onboardings", &v.Filter, &page); err != nil {
		return nil, err
	}
	for _, o := range page.Items {
		v.Rows = append(v.Rows, hireRow{O: o, NextCheckin: nextCheckin(o)})
	}
	v.Pager = newPager("/onboardings", q, page.NextCursor)
	out := &pageOut{page: "onboardings", title: "Onboarding", nav: "onboardings", data: v, status: v.Filter.status()}
	if s.User.HasAny(opsflow.StartRoles(opsflow.KindOnboarding)...) {
		var tpls opsflow.Page[opsflow.OnboardingTemplate]
		if err := a.get(ctx, s, "/v1/onboarding-templates", nil, &tpls); err != nil {
			return nil, err
		}
		var roles []Option
		for _, t := range tpls.Items {
			roles = append(roles, Option{Value: t.Role, Label: t.Title + " (v" + itoa(t.Version) + ")"})
		}
		v.Start = &Form{ID: "start-onboarding", Title: "Start an onboarding", Action: "/onboardings", Submit: "Start", CSRF: s.CSRF, Key: randomToken(),
			Doc: "The role's latest template is planned from the start date, and kept for the whole onboarding.",
			Fields: []Field{
				{Name: "hire.name", Label: "The hire's name", Type: inText},
				{Name: "hire.email", Label: "The hire's e-mail", Type: inEmail},
				{Name: "role", Label: "Role template", Type: inSelect, Options: roles},
				{Name: "department", Label: "Department", Type: inText},
				{Name: "location", Label: "Location", Type: inText},
				{Name: "timezone", Label: "Time zone", Type: inText, Value: "UTC", Help: "An IANA name, such as Europe/Paris."},
				{Name: "manager_id", Label: "Manager (user ID)", Type: inText},
				{Name: "mentor_id", Label: "Mentor (user ID, optional)", Type: inText},
				{Name: "start_date", Label: "Start date", Type: inDate},
			}}
		out.forms = []*Form{v.Start}
		st.apply(out.forms)
	}
	return out, nil
}

func (a *App) createOnboarding(w http.ResponseWriter, r *http.Request, s *session) {
	a.start(w, r, s, kindInfo(opsflow.KindOnboarding), func(ctx context.Context, st *formState) (*pageOut, error) {
		return a.buildOnboardingBoard(ctx, s, url.Values{}, st)
	})
}

// ---- the hire's page

type taskPhase struct {
	Title string
	Tasks []opsflow.Task
}

type checkinView struct {
	Day  int
	Task *opsflow.Task
	Held *opsflow.CheckIn
	Form *Form
}

type hireView struct {
	O         opsflow.Onboarding
	Phases    []taskPhase
	Checkins  []checkinView
	Forms     []*Form
	Cancel    *Form
	TaskForms map[string][]*Form
	Events    []opsflow.AuditEvent
	Now       time.Time
}

func (a *App) hirePage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildHire(r.Context(), s, r.PathValue("id"), nil)
	a.show(w, r, s, out, err)
}

// phaseOf places a task in the hire's calendar by its due date.
func phaseOf(o opsflow.Onboarding, t opsflow.Task) int {
	if t.DueAt == nil {
		return 2
	}
	day := o.Day.D()
	if day <= 0 {
		day = 24 * time.Hour
	}
	switch d := t.DueAt.Sub(o.Placement.StartAt); {
	case d < 0:
		return 0
	case d <= day:
		return 1
	case d <= 30*day:
		return 2
	case d <= 60*day:
		return 3
	}
	return 4
}

var phaseTitles = []string{"Pre-boarding", "Day one", "First 30 days", "Days 31–60", "Days 61–90"}

func (a *App) buildHire(ctx context.Context, s *session, id string, st *formState) (*pageOut, error) {
	ki := kindInfo(opsflow.KindOnboarding)
	var o opsflow.Onboarding
	events, err := a.readRecord(ctx, s, ki, id, &o)
	if err != nil {
		return nil, err
	}
	v := &hireView{O: o, Events: events, Now: a.Now().UTC(), TaskForms: map[string][]*Form{}}
	phases := make([]taskPhase, len(phaseTitles))
	for i, t := range phaseTitles {
		phases[i].Title = t
	}
	for _, t := range o.Tasks {
		if t.Kind == opsflow.OnboardingTaskCheckin {
			continue
		}
		i := phaseOf(o, t)
		phases[i].Tasks = append(phases[i].Tasks, t)
	}
	for _, p := range phases {
		if len(p.Tasks) > 0 {
			v.Phases = append(v.Phases, p)
		}
	}
	actor := s.actor()
	var all []*Form
	for _, day := range opsflow.CheckinDays {
		c := checkinView{Day: day}
		if t, err := o.Board.Find(opsflow.CheckinTaskID(day)); err == nil {
			c.Task = t
		}
		if i := slices.IndexFunc(o.CheckIns, func(x opsflow.CheckIn) bool { return x.Day == day }); i >= 0 {
			c.Held = &o.CheckIns[i]
		}
		if o.CanCheckIn(day, actor) == nil {
			c.Form = formFor(ki, opsflow.OnboardingStep.CheckIn.Step(), id, "", s.CSRF).set("day", itoa(day))
			c.Form.ID, c.Form.Title = domID("check-in", itoa(day)), "Day-"+itoa(day)+" check-in"
			all = append(all, c.Form)
		}
		v.Checkins = append(v.Checkins, c)
	}
	for _, step := range []opsflow.Step{opsflow.OnboardingStep.MoveStart.Step(), opsflow.OnboardingStep.Cancel.Step()} {
		if o.CanTake(step.Name, actor) != nil {
			continue
		}
		f := formFor(ki, step, id, "", s.CSRF)
		if step.Name == opsflow.OnboardingStep.Cancel.Name {
			f.Style, v.Cancel = styleDanger, f
		} else {
			f.set("start_date", o.Placement.StartDate)
			v.Forms = append(v.Forms, f)
		}
		all = append(all, f)
	}
	retry := opsflow.OnboardingStep.Retry.Step()
	for _, t := range o.Tasks {
		fs := taskForms(ki, o, id, t, actor, s.CSRF, nil)
		if o.CanRetry(t.ID, actor) == nil {
			f := formFor(ki, retry, id, t.ID, s.CSRF)
			f.ID, f.Style, f.Title, f.Doc = domID(id, f.ID), styleInline, "", ""
			fs = append(fs, f)
		}
		if len(fs) > 0 {
			v.TaskForms[t.ID] = fs
			all = append(all, fs...)
		}
	}
	st.apply(all)
	return &pageOut{page: "hire", title: o.Hire.Name, nav: "onboardings", data: v, forms: all}, nil
}
