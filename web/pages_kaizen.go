package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsflow/opsflow"
)

// ---- the Kaizen board: a column per open phase

// kaizenColumns are the board's columns, in PDCA order.
var kaizenColumns = []opsflow.KaizenPhase{opsflow.KaizenTriage, opsflow.KaizenPlan, opsflow.KaizenDo,
	opsflow.KaizenCheck, opsflow.KaizenAct, opsflow.KaizenSustain}

// kaizenSettled are the phases listed beside the board.
var kaizenSettled = []opsflow.KaizenPhase{opsflow.KaizenClosed, opsflow.KaizenDeferred, opsflow.KaizenRejected, opsflow.KaizenCancelled}

// cardsPerColumn bounds a column; a link lists the rest.
const cardsPerColumn = 12

type kaizenColumn struct {
	Phase string
	Items []opsflow.Kaizen
	Count int
	More  string
}

type kaizenBoardView struct {
	Columns []kaizenColumn
	Settled []kaizenColumn
	// Phase, when set, lists one phase's initiatives page by page.
	Phase  string
	List   []opsflow.Kaizen
	Pager  pager
	Submit *Form
	Now    time.Time
}

func (a *App) kaizenBoard(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildKaizenBoard(r.Context(), s, listQuery(r, "phase"), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildKaizenBoard(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	v := &kaizenBoardView{Now: a.Now().UTC(), Phase: q.Get("phase")}
	out := &pageOut{page: "kaizen-board", title: "Kaizen board", nav: "kaizen", data: v}
	if v.Phase != "" {
		var page opsflow.Page[opsflow.Kaizen]
		if err := a.get(ctx, s, "/v1/kaizen", q, &page); err != nil {
			return nil, err
		}
		v.List, v.Pager = page.Items, newPager("/kaizen", q, page.NextCursor)
		out.title = "Kaizen: " + strings.ReplaceAll(v.Phase, "_", " ")
		return out, nil
	}
	// The columns are read side by side: a board is six lists. A column
	// says how many cards it shows and links the rest; exact counts would
	// cost a scan of every initiative on every view.
	v.Columns = make([]kaizenColumn, len(kaizenColumns))
	errs := make([]error, len(kaizenColumns))
	var wg sync.WaitGroup
	for i, ph := range kaizenColumns {
		wg.Go(func() {
			var page opsflow.Page[opsflow.Kaizen]
			errs[i] = a.get(ctx, s, "/v1/kaizen", url.Values{"phase": {string(ph)}, "limit": {itoa(cardsPerColumn)}}, &page)
			v.Columns[i] = kaizenColumn{Phase: string(ph), Items: page.Items, Count: len(page.Items)}
			if page.NextCursor != "" {
				v.Columns[i].More = "/kaizen?phase=" + string(ph)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, ph := range kaizenSettled {
		v.Settled = append(v.Settled, kaizenColumn{Phase: string(ph), More: "/kaizen?phase=" + string(ph)})
	}
	if s.User.HasAny(opsflow.StartRoles(opsflow.KindKaizen)...) {
		var kpis opsflow.Page[opsflow.KPI]
		if err := a.get(ctx, s, "/v1/kpis", url.Values{"limit": {"200"}}, &kpis); err != nil {
			return nil, err
		}
		var keys []Option
		for _, k := range kpis.Items {
			keys = append(keys, Option{Value: k.Key, Label: k.Name + " (" + k.Unit + ", " + string(k.Direction) + " is better)"})
		}
		v.Submit = &Form{ID: "submit-idea", Title: "Submit an improvement", Action: "/kaizen", Submit: "Submit", CSRF: s.CSRF, Key: randomToken(),
			Doc: "Name the problem, not a solution. The sponsor triages it; the owner writes the A3 plan.",
			Fields: []Field{
				{Name: "title", Label: "Theme (the problem)", Type: inText},
				{Name: "problem_statement", Label: "Problem statement", Type: inTextarea, Rows: 3},
				{Name: "business_case", Label: "Business case", Type: inTextarea, Rows: 2},
				{Name: "scope", Label: "Scope", Type: inText},
				{Name: "kpi", Label: "KPI to improve", Type: inSelect, Options: keys},
				{Name: "sponsor", Label: "Sponsor (an approver's user ID)", Type: inText},
				{Name: "owner", Label: "Owner (user ID)", Type: inText, Value: s.User.ID},
				{Name: "team", Label: "Team", Type: inLines, Rows: 2, Help: "User IDs; one per line."},
				{Name: "baseline.value", Label: "Baseline value (optional)", Type: inNumber},
				{Name: "baseline.source", Label: "Baseline source", Type: inText},
				{Name: "target.value", Label: "Target value (optional)", Type: inNumber},
				{Name: "target.date", Label: "Target date (UTC)", Type: inDateTime},
			}}
		out.forms = []*Form{v.Submit}
		st.apply(out.forms)
	}
	return out, nil
}

func (a *App) createKaizen(w http.ResponseWriter, r *http.Request, s *session) {
	a.start(w, r, s, kindInfo(opsflow.KindKaizen), func(ctx context.Context, st *formState) (*pageOut, error) {
		return a.buildKaizenBoard(ctx, s, url.Values{}, st)
	})
}

// ---- the A3 page

type kaizenView struct {
	K         opsflow.Kaizen
	Stepper   []stepperView
	Forms     []*Form
	More      []*Form
	Cancel    *Form
	TaskForms map[string][]*Form
	Events    []opsflow.AuditEvent
	Chart     kpiChart
	Impact    []impactTotal
	Now       time.Time
}

// impactTotal sums the ledger's entries of one unit.
type impactTotal struct {
	Unit                     string
	Target, Forecast, Actual float64
}

var kaizenLine = []opsflow.KaizenPhase{opsflow.KaizenTriage, opsflow.KaizenPlan, opsflow.KaizenDo, opsflow.KaizenCheck,
	opsflow.KaizenAct, opsflow.KaizenSustain, opsflow.KaizenClosed}

func (a *App) kaizenPage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildKaizen(r.Context(), s, r.PathValue("id"), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildKaizen(ctx context.Context, s *session, id string, st *formState) (*pageOut, error) {
	ki := kindInfo(opsflow.KindKaizen)
	var k opsflow.Kaizen
	events, err := a.readRecord(ctx, s, ki, id, &k)
	if err != nil {
		return nil, err
	}
	v := &kaizenView{K: k, Stepper: stepper(kaizenLine, k.Phase), Events: events, Now: a.Now().UTC(), TaskForms: map[string][]*Form{}}
	// The KPI from a month before the initiative: its baseline's time and
	// everything since (the first 200 measurements of that span).
	from := k.OpenedAt.AddDate(0, -1, 0)
	if k.Baseline != nil && k.Baseline.From != nil && k.Baseline.From.Before(from) {
		from = *k.Baseline.From
	}
	v.Chart = a.chartOf(ctx, s, k.KPI, k.Baseline, k.Target, from)
	for _, e := range k.Impact {
		i := slices.IndexFunc(v.Impact, func(t impactTotal) bool { return t.Unit == e.Unit })
		if i < 0 {
			v.Impact, i = append(v.Impact, impactTotal{Unit: e.Unit}), len(v.Impact)
		}
		t := &v.Impact[i]
		t.Target += deref(e.Target)
		t.Forecast += deref(e.Forecast)
		t.Actual += deref(e.Actual)
	}
	actor := s.actor()
	var all []*Form
	for _, step := range opsflow.KaizenSteps() {
		if k.CanTake(step.Name, actor) != nil {
			continue
		}
		f := formFor(ki, step, id, "", s.CSRF)
		switch step.Name {
		case opsflow.KaizenStep.Cancel.Name:
			f.Style, v.Cancel = styleDanger, f
		case opsflow.KaizenStep.RecordImpact.Name:
			v.More = append(v.More, f)
		case opsflow.KaizenStep.SubmitPlan.Name:
			if p := k.Plan; p != nil { // a revision starts from the plan as it stands
				f.set("current_condition", p.CurrentCondition).set("root_causes", strings.Join(p.RootCauses, "\n")).
					set("experiment.hypothesis", p.Experiment.Hypothesis).set("experiment.expected_result", p.Experiment.ExpectedResult).
					set("check_window_days", itoa(p.CheckWindowDays))
			}
			v.Forms = append(v.Forms, f)
		default:
			v.Forms = append(v.Forms, f)
		}
		all = append(all, f)
	}
	for _, t := range k.Tasks {
		if fs := taskForms(ki, k, id, t, actor, s.CSRF, nil); len(fs) > 0 {
			v.TaskForms[t.ID] = fs
			all = append(all, fs...)
		}
	}
	st.apply(all)
	return &pageOut{page: "kaizen", title: k.Title, nav: "kaizen", data: v, forms: all}, nil
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
