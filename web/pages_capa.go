package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/opsflow/opsflow"
)

// ---- the CAPA register

// capaFilters are the register's filters: the API's list parameters.
var capaFilters = []string{"state", "risk_level", "source", "type", "owner", "opened_from", "opened_to", "closed_from", "closed_to"}

type filterView struct {
	Values url.Values
	Error  *opsflow.Error
}

// Get is a filter's current value.
func (f filterView) Get(name string) string { return f.Values.Get(name) }

// ErrorOf is the API's complaint about a filter, if it is about name.
func (f filterView) ErrorOf(name string) string {
	if f.Error != nil && f.Error.Field == name {
		return f.Error.Message
	}
	return ""
}

// status is the status of a list page with this filter: 422 when the API
// refused it, 0 (200) otherwise.
func (f filterView) status() int {
	if f.Error != nil {
		return http.StatusUnprocessableEntity
	}
	return 0
}

// getFiltered reads a list route at the filter's values into page; the
// API's 422 (a bad filter or cursor) is no failure but the filter's
// error, said next to it.
func (a *App) getFiltered(ctx context.Context, s *session, route string, f *filterView, page any) error {
	err := a.get(ctx, s, route, f.Values, page)
	if err != nil && opsflow.ErrorCode(err) == opsflow.EINVALID {
		f.Error, err = asError(err), nil
	}
	return err
}

// pager links the pages of a keyset-paginated list.
type pager struct {
	Next, First string
	Label       string // the pager's name, when a page has several lists ("Pages" if empty)
}

func newPager(base string, q url.Values, next string) pager {
	var p pager
	if next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", next)
		p.Next = base + "?" + nq.Encode()
	}
	if q.Get("cursor") != "" {
		fq := cloneValues(q)
		fq.Del("cursor")
		p.First = base
		if len(fq) > 0 {
			p.First += "?" + fq.Encode()
		}
	}
	return p
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// listQuery keeps the known list parameters of a request.
func listQuery(r *http.Request, names ...string) url.Values {
	return pickQuery(r.URL.Query(), names...)
}

// pickQuery keeps the list parameters names (and the cursor) of query.
func pickQuery(query url.Values, names ...string) url.Values {
	q := url.Values{}
	for _, n := range slices.Concat(names, []string{"cursor"}) {
		if v := query.Get(n); v != "" {
			q.Set(n, v)
		}
	}
	return q
}

type capaRegisterView struct {
	Items   []opsflow.CAPA
	Filter  filterView
	Pager   pager
	States  []Option
	Risks   []Option
	Sources []Option
	Types   []Option
	Report  *Form // report a nonconformity, for those who may
	Now     time.Time
}

func (a *App) capaRegister(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildRegister(r.Context(), s, listQuery(r, capaFilters...), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildRegister(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	v := &capaRegisterView{Filter: filterView{Values: q}, States: opts(opsflow.CAPAStates), Sources: capaSources,
		Risks: opts([]string{opsflow.RiskLow, opsflow.RiskMedium, opsflow.RiskHigh, opsflow.RiskCritical}),
		Types: opts([]string{opsflow.CAPATypeCorrective, opsflow.CAPATypePreventive, opsflow.CAPATypeCorrection}), Now: a.Now().UTC()}
	var page opsflow.Page[opsflow.CAPA]
	if err := a.getFiltered(ctx, s, "/v1/capas", &v.Filter, &page); err != nil {
		return nil, err
	}
	v.Items = page.Items
	v.Pager = newPager("/capas", q, page.NextCursor)
	out := &pageOut{page: "capas", title: "CAPA register", nav: "capas", data: v, status: v.Filter.status()}
	if s.User.HasAny(opsflow.StartRoles(opsflow.KindCAPA)...) {
		v.Report = reportForm(s)
		out.forms = []*Form{v.Report}
		st.apply(out.forms)
	}
	return out, nil
}

func reportForm(s *session) *Form {
	return &Form{ID: "report", Title: "Report a nonconformity", Action: "/capas", Submit: "Report", CSRF: s.CSRF, Key: randomToken(),
		Doc: "Who reports it owns it unless you name an owner; containment can start at once.",
		Fields: []Field{
			{Name: "title", Label: "Title", Type: inText},
			{Name: "type", Label: "Type", Type: inSelect, Value: opsflow.CAPATypeCorrective,
				Options: opts([]string{opsflow.CAPATypeCorrective, opsflow.CAPATypePreventive, opsflow.CAPATypeCorrection})},
			{Name: "source.type", Label: "Source", Type: inSelect, Options: capaSources},
			{Name: "source.refs", Label: "Source references", Type: inLines, Rows: 1, Help: "Complaint, NCR or audit finding numbers; one per line."},
			{Name: "problem.what", Label: "What happened", Type: inTextarea, Rows: 3},
			{Name: "problem.where", Label: "Where", Type: inText},
			{Name: "problem.when", Label: "When", Type: inText},
			{Name: "problem.how_many", Label: "How many", Type: inNumber},
			{Name: "scope.product", Label: "Product", Type: inText},
			{Name: "scope.lots", Label: "Lots or serials", Type: inLines, Rows: 1},
			{Name: "owner", Label: "Owner (user ID)", Type: inText, Value: s.User.ID},
			{Name: "containment", Label: "Containment actions", Type: inGroup, Rows: 1, Fields: []Field{
				{Name: "description", Label: "What", Type: inText},
				{Name: "owner", Label: "Owner (user ID)", Type: inText},
				{Name: "due_days", Label: "Due in (days)", Type: inNumber},
			}},
		}}
}

func (a *App) createCAPA(w http.ResponseWriter, r *http.Request, s *session) {
	a.start(w, r, s, kindInfo(opsflow.KindCAPA), func(ctx context.Context, st *formState) (*pageOut, error) {
		return a.buildRegister(ctx, s, url.Values{}, st)
	})
}

// ---- a CAPA's page

type stepperView struct {
	Name          string
	Done, Current bool
}

type capaView struct {
	C         opsflow.CAPA
	Stepper   []stepperView
	Forms     []*Form
	More      []*Form // steps open but seldom the next one: folded
	Sign      *Form
	Cancel    *Form
	TaskForms map[string][]*Form
	Events    []opsflow.AuditEvent
	CanExport bool
	Now       time.Time
}

// capaLine is the main line of a CAPA's life, for the stepper.
var capaLine = []opsflow.CAPAState{opsflow.CAPAReported, opsflow.CAPATriage, opsflow.CAPAContainment, opsflow.CAPAInvestigation,
	opsflow.CAPAActionPlan, opsflow.CAPAImplementation, opsflow.CAPAVerification, opsflow.CAPAEffectiveness, opsflow.CAPAAwaitingSig, opsflow.CAPAClosed}

func stepper[S ~string](line []S, current S) []stepperView {
	at := slices.Index(line, current)
	out := make([]stepperView, len(line))
	for i, s := range line {
		out[i] = stepperView{Name: string(s), Done: at >= 0 && i < at, Current: i == at}
	}
	return out
}

func (a *App) capaPage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildCAPA(r.Context(), s, r.PathValue("id"), nil)
	a.show(w, r, s, out, err)
}

// readRecord reads a record and its audit trail through the API.
func (a *App) readRecord(ctx context.Context, s *session, ki opsflow.KindInfo, id string, rec any) ([]opsflow.AuditEvent, error) {
	base := "/v1/" + ki.Collection + "/" + url.PathEscape(id)
	if err := a.get(ctx, s, base, nil, rec); err != nil {
		return nil, err
	}
	var trail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	if err := a.get(ctx, s, base+"/audit", nil, &trail); err != nil {
		if statusOf(err) == http.StatusNotFound {
			// Someone who only holds a task in the record (IT in an
			// onboarding) sees it without its trail.
			return nil, nil
		}
		return nil, err
	}
	slices.Reverse(trail.Items) // newest first: what happened last is what people look for
	return trail.Items, nil
}

func (a *App) buildCAPA(ctx context.Context, s *session, id string, st *formState) (*pageOut, error) {
	ki := kindInfo(opsflow.KindCAPA)
	var c opsflow.CAPA
	events, err := a.readRecord(ctx, s, ki, id, &c)
	if err != nil {
		return nil, err
	}
	v := &capaView{C: c, Stepper: stepper(capaLine, c.State), Events: events, Now: a.Now().UTC(),
		CanExport: s.User.HasAny(opsflow.RolesExportCAPA...), TaskForms: map[string][]*Form{}}
	actor := s.actor()
	var all []*Form
	for _, step := range opsflow.CAPASteps() {
		if c.CanTake(step.Name, actor) != nil {
			continue
		}
		switch step.Name {
		case opsflow.CAPAStep.CompleteAction.Name:
			for _, x := range c.Actions {
				if c.CanCompleteAction(x.ID, actor) == nil {
					f := formFor(ki, step, id, "", s.CSRF).set("action_id", x.ID)
					f.ID, f.Title = domID("complete-action", x.ID), "Complete action: "+x.Description
					v.Forms, all = append(v.Forms, f), append(all, f)
				}
			}
			continue
		case opsflow.CAPAStep.RequestExtension.Name:
			var tasks []Option
			for _, t := range c.Tasks {
				if c.CanRequestExtension(t.ID, actor) == nil {
					tasks = append(tasks, Option{Value: t.ID, Label: t.Title + " (" + dueText(t.DueAt, v.Now) + ")"})
				}
			}
			if len(tasks) > 0 {
				f := formFor(ki, step, id, "", s.CSRF).choices("task_id", tasks)
				v.More, all = append(v.More, f), append(all, f)
			}
			continue
		}
		f := formFor(ki, step, id, "", s.CSRF)
		switch step.Name {
		case opsflow.CAPAStep.SignClosure.Name:
			f.Style, v.Sign = styleDialog, f
			f.Doc += " You sign as " + s.User.Name + " (" + s.User.ID + ")."
		case opsflow.CAPAStep.Cancel.Name:
			f.Style, v.Cancel = styleDanger, f
		case opsflow.CAPAStep.RecordInvestigation.Name:
			p := c.Problem
			f.set("problem.what", p.What).set("problem.where", p.Where).set("problem.when", p.When).
				set("problem.who", p.Who).set("problem.how", p.How).set("problem.is_not", p.IsNot)
			if p.HowMany > 0 {
				f.set("problem.how_many", itoa(p.HowMany))
			}
			v.Forms = append(v.Forms, f)
		case opsflow.CAPAStep.AddContainment.Name:
			if c.State == opsflow.CAPAContainment {
				v.Forms = append(v.Forms, f)
			} else {
				v.More = append(v.More, f)
			}
		case opsflow.CAPAStep.DecideExtension.Name:
			if x := c.PendingExtension(); x != nil {
				f.Doc = x.RequestedBy + " asks to move " + x.TaskID + " to " + utc(x.NewDue) + ": " + x.Reason
			}
			v.Forms = append(v.Forms, f)
		default:
			v.Forms = append(v.Forms, f)
		}
		all = append(all, f)
	}
	for _, t := range c.Tasks {
		// An action is completed with its evidence by complete-action;
		// the task's own complete would ask for less.
		fs := taskForms(ki, c, id, t, actor, s.CSRF, func(st opsflow.Step) bool {
			return t.Kind == opsflow.CAPATaskAction && st.MovesTaskTo == opsflow.TaskDone
		})
		if len(fs) > 0 {
			v.TaskForms[t.ID] = fs
			all = append(all, fs...)
		}
	}
	st.apply(all)
	return &pageOut{page: "capa", title: c.Title, nav: "capas", data: v, forms: all}, nil
}

// exportCAPA downloads one CAPA's inspection pack (json) or CSV: the
// API's export, passed through.
func (a *App) exportCAPA(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{"format": {r.URL.Query().Get("format")}}
	a.download(w, r, s, "/v1/capas/"+url.PathEscape(r.PathValue("id"))+"/export", q)
}

// download passes an API answer (a file) through to the browser; an
// error becomes a page.
func (a *App) download(w http.ResponseWriter, r *http.Request, s *session, path string, q url.Values) {
	ans := a.call(r.Context(), s, http.MethodGet, path, q, nil, "")
	if !ans.ok() {
		e := ans.err()
		a.errorPage(w, r, ans.Status, e.Message)
		return
	}
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		if v := ans.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ans.Body)
}
