package server

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/chart"
	"github.com/opsflow/opsflow/kpichart"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/spc"
	"github.com/opsflow/opsflow/workflows"
)

// KPIs that run the improvement loop (issue 11): definitions that say what
// good is, XmR charts as JSON and pictures, the KPI's watch told of every
// change, owners' commentary, and the KPI's audit trail. The routes are
// declared in kpiRoutes; the store methods live in postgres/kpidef.go.

// kpiLoopStore is what the KPI loop's handlers read and write.
type kpiLoopStore interface {
	GetKPIDefinition(ctx context.Context, key string) (opsflow.KPIDefinition, error)
	DefineKPI(ctx context.Context, k opsflow.KPI, spec opsflow.KPISpec, target *opsflow.KPITarget, actor opsflow.Actor) (opsflow.KPIDefinition, bool, error)
	ChangeKPI(ctx context.Context, key string, actor opsflow.Actor, reason string, change func(*opsflow.KPIDefinition) error) (opsflow.KPIDefinition, bool, error)
	AllMeasurements(ctx context.Context, key string, to time.Time) ([]opsflow.Measurement, error)
	KPILinks(ctx context.Context, key string) ([]opsflow.KPILink, error)
	AddCommentary(ctx context.Context, key, period, text string, actor opsflow.Actor) (postgres.Commentary, bool, error)
	reportStore
}

// exampleKPI is POST /v1/kpis's example: a KPI whose unfavourable
// violations open a CAPA.
var exampleKPI = kpiRequest{Key: "scrap-line-4", Name: "Scrap rate, line 4", Unit: "%", Direction: opsflow.LowerIsBetter,
	Frequency: opsflow.Monthly, Missing: &opsflow.MissingRule{Enabled: true, GraceDays: 5},
	Method: "scrapped units / units started, per calendar month", Source: "MES monthly scrap report",
	Target:     &targetBody{Value: ptr(4.0), EffectiveFrom: ptr(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))},
	Thresholds: &opsflow.Thresholds{Amber: ptr(4.5), Red: ptr(5.5)},
	Policy:     &opsflow.ResponsePolicy{Action: opsflow.RespondCAPA, CAPAType: opsflow.CAPATypeCorrective, Risk: &opsflow.RiskDefaults{Severity: 3, Occurrence: 3, Detection: 2}},
	Rules:      opsflow.ChartRules{opsflow.RuleEightOnOneSide: opsflow.SeverityViolation}}

// kpiView is a KPI as GET /v1/kpis/{key} answers it: its registry entry,
// its spec, the target in effect now and their history, its dividers, its
// status now, and the processes its signals opened (open ones first).
type kpiView struct {
	opsflow.KPI
	opsflow.KPISpec
	Version   int64                `json:"version"`
	Target    *opsflow.KPITarget   `json:"target,omitempty"`
	Targets   []opsflow.KPITarget  `json:"targets"`
	Dividers  []opsflow.KPIDivider `json:"dividers"`
	Status    opsflow.KPIStatus    `json:"status"`
	Processes []opsflow.KPILink    `json:"processes"`
	Chart     string               `json:"chart"` // the chart's path: JSON; add .png or .svg for a picture
	Audit     string               `json:"audit"`
}

func (s *Server) view(ctx context.Context, d opsflow.KPIDefinition) (kpiView, error) {
	v := kpiView{KPI: d.KPI, KPISpec: d.Spec, Version: d.Version, Target: d.Target(s.Now()), Targets: d.Targets, Dividers: d.Dividers,
		Chart: "/v1/kpis/" + d.Key + "/chart", Audit: "/v1/kpis/" + d.Key + "/audit"}
	ms, err := s.Store.AllMeasurements(ctx, d.Key, time.Time{})
	if err != nil {
		return v, err
	}
	c, err := kpichart.Build(d, ms)
	if err != nil {
		return v, err
	}
	v.Status = kpichart.LatestStatus(d, c)
	if v.Processes, err = s.Store.KPILinks(ctx, d.Key); err != nil {
		return v, err
	}
	return v, nil
}

// baselineBody chooses a locked baseline (or unlocks it).
type baselineBody struct {
	Locked bool       `json:"locked"`
	N      int        `json:"n,omitempty"`
	From   *time.Time `json:"from,omitempty"`
	To     *time.Time `json:"to,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

func (b baselineBody) baseline(a opsflow.Actor) opsflow.ChartBaseline {
	out := opsflow.ChartBaseline{Locked: b.Locked, N: b.N, From: utc(b.From), To: utc(b.To)}
	if b.Locked {
		at := a.At
		out.LockedBy, out.LockedAt = a.ID, &at
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// targetBody sets a target from a date on (now when left out).
type targetBody struct {
	Value         *float64   `json:"value"`
	EffectiveFrom *time.Time `json:"effective_from,omitempty"`
	Reason        string     `json:"reason,omitempty"`
}

func (b targetBody) target(a opsflow.Actor, field string) (opsflow.KPITarget, error) {
	if b.Value == nil {
		return opsflow.KPITarget{}, opsflow.Invalid(field+"value", "value is required")
	}
	t := opsflow.KPITarget{Value: *b.Value, EffectiveFrom: a.At.UTC().Truncate(time.Microsecond), Reason: b.Reason, SetBy: a.ID, SetAt: a.At}
	if b.EffectiveFrom != nil {
		t.EffectiveFrom = b.EffectiveFrom.UTC().Truncate(time.Microsecond)
	}
	return t, t.Check(field)
}

// tellWatch tells the KPI's watch that it changed. The change is stored
// already; if the watch could not be told, the answer is 503 and a retry
// (idempotent) tells it.
func (s *Server) tellWatch(c echo.Context, key, reason string, count int) error {
	if s.Temporal == nil {
		return nil
	}
	if err := activities.TellKPIWatch(c.Request().Context(), s.Temporal, s.TaskQueue, key, s.Day, workflows.KPIChange{Reason: reason, Count: count}); err != nil {
		s.log.WarnContext(c.Request().Context(), "kpi watch not told", "kpi", key, "error", err)
		return opsflow.Errorf(opsflow.EUNAVAILABLE, "stored, but the KPI's watch was not told: repeat the request (it is idempotent)")
	}
	return nil
}

// createKPI registers a KPI with what good is for it: POST /v1/kpis.
func (s *Server) createKPI(c echo.Context) error {
	if err := requireAny(c, opsflow.RolesDefineKPI...); err != nil {
		return err
	}
	var in kpiRequest
	if err := bind(c, &in); err != nil {
		return err
	}
	a := actorOf(c)
	k := opsflow.KPI{Key: in.Key, Name: in.Name, Description: in.Description, Unit: in.Unit, Direction: in.Direction, OwnerID: in.Owner, CreatedBy: a.ID}
	if k.OwnerID == "" {
		k.OwnerID = a.ID
	}
	if err := k.Validate(); err != nil {
		return err
	}
	in.Owner = k.OwnerID
	if err := s.checkPeople(c.Request().Context(), in); err != nil {
		return err
	}
	spec := opsflow.DefaultKPISpec()
	spec.Frequency, spec.Method, spec.Source = in.Frequency, in.Method, in.Source
	if in.Missing != nil {
		spec.Missing = *in.Missing
	}
	if in.Thresholds != nil {
		spec.Thresholds = *in.Thresholds
	}
	if in.Policy != nil {
		spec.Policy = *in.Policy
	}
	for r, sev := range in.Rules {
		spec.Rules[r] = sev
	}
	if in.Baseline != nil {
		spec.Baseline = in.Baseline.baseline(a)
		// A retried create must compare equal: who locked it and when
		// are the registry's own record of the first request.
		spec.Baseline.LockedBy, spec.Baseline.LockedAt = "", nil
	}
	spec = spec.Normalise()
	if err := spec.Check(k.Direction, k.OwnerID); err != nil {
		return err
	}
	var target *opsflow.KPITarget
	if in.Target != nil {
		t, err := in.Target.target(a, "target.")
		if err != nil {
			return err
		}
		target = &t
	}
	d, created, err := s.Store.DefineKPI(c.Request().Context(), k, spec, target, a)
	if err != nil {
		return err
	}
	if err := s.tellWatch(c, d.Key, "definition", 0); err != nil {
		return err
	}
	v, err := s.view(c.Request().Context(), d)
	if err != nil {
		return err
	}
	if !created { // the same definition again: a retry
		return c.JSON(http.StatusOK, v)
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/kpis/"+d.Key)
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) getKPI(c echo.Context) error {
	d, err := s.Store.GetKPIDefinition(c.Request().Context(), c.Param("key"))
	if err != nil {
		return err
	}
	v, err := s.view(c.Request().Context(), d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// canChange lets the KPI's owner, an approver or an admin change it.
func canChange(c echo.Context, d opsflow.KPIDefinition) error {
	u := userOf(c)
	if u.ID == d.OwnerID || u.HasAny(opsflow.RolesChangeKPI...) {
		return nil
	}
	return opsflow.Forbidden("only the KPI's owner (%s), an approver or an admin may change it", d.OwnerID)
}

// change applies a change to a KPI (checked by canChange, then by the
// spec's own validation), tells its watch and answers the KPI.
func (s *Server) change(c echo.Context, reason string, edit func(*opsflow.KPIDefinition) error) error {
	ctx := c.Request().Context()
	key := c.Param("key")
	d, changed, err := s.Store.ChangeKPI(ctx, key, actorOf(c), reason, func(d *opsflow.KPIDefinition) error {
		if err := canChange(c, *d); err != nil {
			return err
		}
		if err := edit(d); err != nil {
			return err
		}
		if strings.TrimSpace(d.Name) == "" || len(d.Name) > 200 {
			return opsflow.Invalid("name", "name is required, at most 200 characters")
		}
		if strings.TrimSpace(d.OwnerID) == "" {
			return opsflow.Invalid("owner", "owner is required")
		}
		d.Spec = d.Spec.Normalise()
		return d.Spec.Check(d.Direction, d.OwnerID)
	})
	if err != nil {
		return err
	}
	if changed {
		if err := s.tellWatch(c, key, "definition", 0); err != nil {
			return err
		}
	}
	v, err := s.view(ctx, d)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// UserRefs names the KPI's owner and the people its policy names.
func (r kpiRequest) UserRefs() []opsflow.UserRef { return kpiPeople(&r.Owner, r.Policy) }

// UserRefs names the people a change names.
func (p kpiPatch) UserRefs() []opsflow.UserRef { return kpiPeople(p.Owner, p.Policy) }

func kpiPeople(owner *string, policy *opsflow.ResponsePolicy) []opsflow.UserRef {
	var out []opsflow.UserRef
	if owner != nil && *owner != "" {
		out = append(out, opsflow.UserRef{Field: "owner", ID: *owner})
	}
	if policy != nil {
		for _, r := range []opsflow.UserRef{{Field: "policy.owner", ID: policy.Owner}, {Field: "policy.sponsor", ID: policy.Sponsor}} {
			if r.ID != "" {
				out = append(out, r)
			}
		}
	}
	return out
}

// kpiPatch changes a KPI's definition: fields left out stay as they are;
// thresholds and policy are replaced whole, rules merged by rule. Key,
// unit and direction never change (a different measure is a new KPI).
type kpiPatch struct {
	Name        *string                 `json:"name,omitempty"`
	Description *string                 `json:"description,omitempty"`
	Owner       *string                 `json:"owner,omitempty"`
	Frequency   *opsflow.Frequency      `json:"frequency,omitempty"`
	Missing     *opsflow.MissingRule    `json:"missing,omitempty"`
	Method      *string                 `json:"method,omitempty"`
	Source      *string                 `json:"source,omitempty"`
	Thresholds  *opsflow.Thresholds     `json:"thresholds,omitempty"`
	Policy      *opsflow.ResponsePolicy `json:"policy,omitempty"`
	Rules       opsflow.ChartRules      `json:"rules,omitempty"`
	Reason      string                  `json:"reason,omitempty"` // why, for the audit trail
}

func (s *Server) patchKPI(c echo.Context) error {
	var in kpiPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.checkPeople(c.Request().Context(), in); err != nil {
		return err
	}
	return s.change(c, in.Reason, func(d *opsflow.KPIDefinition) error {
		set := func(p *string, v *string) {
			if v != nil {
				*p = *v
			}
		}
		set(&d.Name, in.Name)
		set(&d.Description, in.Description)
		set(&d.OwnerID, in.Owner)
		set(&d.Spec.Method, in.Method)
		set(&d.Spec.Source, in.Source)
		if in.Frequency != nil {
			d.Spec.Frequency = *in.Frequency
		}
		if in.Missing != nil {
			d.Spec.Missing = *in.Missing
		}
		if in.Thresholds != nil {
			d.Spec.Thresholds = *in.Thresholds
		}
		if in.Policy != nil {
			d.Spec.Policy = *in.Policy
		}
		for r, sev := range in.Rules {
			d.Spec.Rules[r] = sev
		}
		return nil
	})
}

// addTarget sets a new target from a date on; the history is kept. The
// same target again is a retry; another value for the same date is a
// conflict (targets are never edited: set a new one from a later date).
func (s *Server) addTarget(c echo.Context) error {
	var in targetBody
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := in.target(actorOf(c), "")
	if err != nil {
		return err
	}
	return s.change(c, in.Reason, func(d *opsflow.KPIDefinition) error {
		for _, o := range d.Targets {
			if o.EffectiveFrom.Equal(t.EffectiveFrom) {
				if o.Value != t.Value {
					return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "effective_from",
						Message: "a different target is already set from this date; set a new one from a later date"}
				}
				return nil
			}
		}
		d.Targets = append(d.Targets, t)
		return nil
	})
}

// setBaseline locks the baseline the first segment's limits come from (or
// unlocks it).
func (s *Server) setBaseline(c echo.Context) error {
	var in baselineBody
	if err := bind(c, &in); err != nil {
		return err
	}
	a := actorOf(c)
	return s.change(c, in.Reason, func(d *opsflow.KPIDefinition) error {
		b := in.baseline(a)
		old := d.Spec.Baseline
		if old.Locked == b.Locked && old.N == b.N && eqTime(old.From, b.From) && eqTime(old.To, b.To) {
			return nil // as it is: keep who locked it and when
		}
		d.Spec.Baseline = b
		return nil
	})
}

func eqTime(a, b *time.Time) bool { return a == nil && b == nil || a != nil && b != nil && a.Equal(*b) }

// dividerBody starts new limits after a deliberate change.
type dividerBody struct {
	At       time.Time     `json:"at"`
	Label    string        `json:"label"`
	Baseline *baselineBody `json:"baseline,omitempty"`
}

func (s *Server) addDivider(c echo.Context) error {
	var in dividerBody
	if err := bind(c, &in); err != nil {
		return err
	}
	a := actorOf(c)
	div := opsflow.KPIDivider{At: in.At.UTC().Truncate(time.Microsecond), Label: strings.TrimSpace(in.Label), CreatedBy: a.ID, CreatedAt: a.At}
	if in.Baseline != nil {
		div.Baseline = in.Baseline.baseline(a)
		div.Baseline.LockedBy, div.Baseline.LockedAt = "", nil
	}
	if err := div.Check(); err != nil {
		return err
	}
	return s.change(c, div.Label, func(d *opsflow.KPIDefinition) error {
		for _, o := range d.Dividers {
			if o.At.Equal(div.At) {
				if o.Label != div.Label {
					return &opsflow.Error{Code: opsflow.ECONFLICT, Field: "at", Message: "another divider is at this time: " + o.Label}
				}
				return nil
			}
		}
		d.Dividers = append(d.Dividers, div)
		return nil
	})
}

// kpiChart is GET /v1/kpis/{key}/chart: the XmR chart (points, each
// segment's limits, signals) with the KPI, its target and its status.
type kpiChart struct {
	KPI     opsflow.KPIRef      `json:"kpi"`
	Target  *opsflow.KPITarget  `json:"target,omitempty"`
	Targets []opsflow.KPITarget `json:"targets"`
	Status  opsflow.KPIStatus   `json:"status"`
	Rules   opsflow.ChartRules  `json:"rules"`
	spc.Chart
}

// chartOf reads the chart of the KPI in the path, cropped to the from and
// to query parameters (limits and signals are the whole chart's).
func (s *Server) chartOf(c echo.Context) (opsflow.KPIDefinition, spc.Chart, error) {
	ctx := c.Request().Context()
	from, err := queryTime(c, "from")
	if err != nil {
		return opsflow.KPIDefinition{}, spc.Chart{}, err
	}
	to, err := queryTime(c, "to")
	if err != nil {
		return opsflow.KPIDefinition{}, spc.Chart{}, err
	}
	if from != nil && to != nil && !from.Before(*to) {
		return opsflow.KPIDefinition{}, spc.Chart{}, opsflow.Invalid("to", "to must be after from")
	}
	d, err := s.Store.GetKPIDefinition(ctx, c.Param("key"))
	if err != nil {
		return d, spc.Chart{}, err
	}
	var bound time.Time
	if to != nil {
		bound = *to
	}
	ms, err := s.Store.AllMeasurements(ctx, d.Key, bound)
	if err != nil {
		return d, spc.Chart{}, err
	}
	ch, err := kpichart.Build(d, ms)
	if err != nil {
		return d, ch, err
	}
	if from != nil {
		ch = kpichart.Crop(ch, *from)
	}
	return d, ch, nil
}

func (s *Server) getChart(c echo.Context) error {
	d, ch, err := s.chartOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, kpiChart{KPI: d.Ref(), Target: d.Target(s.Now()), Targets: d.Targets,
		Status: kpichart.LatestStatus(d, ch), Rules: d.Spec.Rules, Chart: ch})
}

// chartImage serves the chart as a picture (PNG or SVG) for e-mail, a
// report or a page: width and height in pixels, mr=true adds the moving
// range panel.
func (s *Server) chartImage(format chart.Format) echo.HandlerFunc {
	return func(c echo.Context) error {
		w, err := queryInt(c, "width", 0, chart.MinSize, chart.MaxSize)
		if err != nil {
			return err
		}
		h, err := queryInt(c, "height", 0, chart.MinSize, chart.MaxSize)
		if err != nil {
			return err
		}
		mr, err := queryBool(c, "mr")
		if err != nil {
			return err
		}
		d, ch, err := s.chartOf(c)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := kpichart.Render(&buf, format, d, ch, kpichart.RenderOptions{Width: w, Height: h, MovingRange: mr != nil && *mr}, s.Now()); err != nil {
			return err
		}
		c.Response().Header().Set("Cache-Control", "private, max-age=60")
		return c.Blob(http.StatusOK, format.ContentType(), buf.Bytes())
	}
}

// commentaryBody is an owner's one line on a month for the report.
type commentaryBody struct {
	Period string `json:"period"`
	Text   string `json:"text"`
}

func (s *Server) addCommentary(c echo.Context) error {
	var in commentaryBody
	if err := bind(c, &in); err != nil {
		return err
	}
	if _, err := opsflow.ParsePeriod(in.Period, time.UTC); err != nil {
		return err
	}
	in.Text = strings.TrimSpace(in.Text)
	if in.Text == "" || len(in.Text) > 500 {
		return opsflow.Invalid("text", "one line of commentary, at most 500 characters")
	}
	ctx := c.Request().Context()
	d, err := s.Store.GetKPIDefinition(ctx, c.Param("key"))
	if err != nil {
		return err
	}
	if u := userOf(c); u.ID != d.OwnerID && !u.Has(opsflow.RoleAdmin) {
		return opsflow.Forbidden("the commentary is the KPI owner's (%s)", d.OwnerID)
	}
	cm, changed, err := s.Store.AddCommentary(ctx, d.Key, in.Period, in.Text, actorOf(c))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !changed {
		status = http.StatusOK
	}
	return c.JSON(status, cm)
}

func (s *Server) kpiAudit(c echo.Context) error {
	d, err := s.Store.GetKPIDefinition(c.Request().Context(), c.Param("key"))
	if err != nil {
		return err
	}
	evs, err := s.Store.AuditEvents(c.Request().Context(), opsflow.KPIStream(d.Key))
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []opsflow.AuditEvent{}
	}
	return c.JSON(http.StatusOK, opsflow.Page[opsflow.AuditEvent]{Items: evs})
}

// kpiRoutes are the KPI loop's routes: the registry, definitions, charts,
// measurements (JSON or CSV), commentary and audit.
func (s *Server) kpiRoutes() []op {
	chartQuery := []param{{"from", "date-time", "first point shown (limits and signals are the whole chart's)", nil},
		{"to", "date-time", "points before this time", nil}}
	imageQuery := append(append([]param{}, chartQuery...),
		param{"width", "integer", "pixels, 200–4000 (default 800)", nil}, param{"height", "integer", "pixels, 200–4000", nil},
		param{"mr", "boolean", "add the moving-range panel", nil})
	return []op{
		{method: "POST", path: "/v1/kpis", id: "createKPI", tag: "kpis", summary: "Register a KPI and what good is for it",
			doc: "Owner, unit, direction, and optionally: frequency and the missing-measurement rule, method and source, a target (from a date), " +
				"amber/red thresholds, the response policy (none, or open a Kaizen or a CAPA when the chart shows an unfavourable violation), " +
				"rule severities and a locked baseline. The same definition again answers 200; a different one under the key 409. Audited on kpi/<key>.",
			body: typeOf[kpiRequest](), example: exampleKPI, resp: typeOf[kpiView](), status: http.StatusCreated, rule: roles(opsflow.RolesDefineKPI...), handler: s.createKPI},
		{method: "GET", path: "/v1/kpis", id: "listKPIs", tag: "kpis", summary: "KPIs by key",
			resp: typeOf[opsflow.KPI](), list: true, query: []param{pLimit, pCursor}, rule: anyUser(), handler: s.listKPIs},
		{method: "GET", path: "/v1/kpis/:key", id: "getKPI", tag: "kpis", summary: "One KPI: definition, target history, status, the processes its signals opened",
			resp: typeOf[kpiView](), rule: anyUser(), handler: s.getKPI},
		{method: "PATCH", path: "/v1/kpis/:key", id: "patchKPI", tag: "kpis", summary: "Change a KPI's definition",
			doc:  "Its owner, an approver or an admin. Fields left out stay; thresholds and policy are replaced whole; rules merge by rule. Each changed field is an audit event (old → new, reason). Unit and direction never change.",
			body: typeOf[kpiPatch](), example: kpiPatch{Thresholds: &opsflow.Thresholds{Amber: ptr(4.5), Red: ptr(5.5)}, Reason: "agreed at the October review"},
			resp: typeOf[kpiView](), rule: kpiOwner(opsflow.RolesChangeKPI...), handler: s.patchKPI},
		{method: "POST", path: "/v1/kpis/:key/targets", id: "setKPITarget", tag: "kpis", summary: "Set a target from a date on (the history is kept)",
			body: typeOf[targetBody](), example: targetBody{Value: ptr(3.5), EffectiveFrom: ptr(exampleTime), Reason: "2027 plan"},
			resp: typeOf[kpiView](), rule: kpiOwner(opsflow.RolesChangeKPI...), handler: s.addTarget},
		{method: "POST", path: "/v1/kpis/:key/baseline", id: "setKPIBaseline", tag: "kpis", summary: "Lock (or unlock) the baseline the control limits come from",
			doc:  "Locked, the limits come from the first n values (20 by default) or those dated from ≤ at < to, and later values are judged against them.",
			body: typeOf[baselineBody](), example: baselineBody{Locked: true, N: 20, Reason: "process stable since January"},
			resp: typeOf[kpiView](), rule: kpiOwner(opsflow.RolesChangeKPI...), handler: s.setBaseline},
		{method: "POST", path: "/v1/kpis/:key/dividers", id: "addKPIDivider", tag: "kpis", summary: "Start new control limits after a deliberate change",
			body: typeOf[dividerBody](), example: dividerBody{At: exampleTime, Label: "Kaizen kzn-12 standardised (SOP-MLD-12 v4)"},
			resp: typeOf[kpiView](), rule: kpiOwner(opsflow.RolesChangeKPI...), handler: s.addDivider},
		{method: "GET", path: "/v1/kpis/:key/chart", id: "getKPIChart", tag: "kpis", summary: "The XmR chart: points, limits per segment, signals",
			resp: typeOf[kpiChart](), query: chartQuery, rule: anyUser(), handler: s.getChart},
		{method: "GET", path: "/v1/kpis/:key/chart.png", id: "getKPIChartPNG", tag: "kpis", summary: "The XmR chart as a PNG image",
			content: []string{"image/png"}, query: imageQuery, rule: anyUser(), handler: s.chartImage(chart.PNG)},
		{method: "GET", path: "/v1/kpis/:key/chart.svg", id: "getKPIChartSVG", tag: "kpis", summary: "The XmR chart as an SVG image",
			content: []string{"image/svg+xml"}, query: imageQuery, rule: anyUser(), handler: s.chartImage(chart.SVG)},
		{method: "POST", path: "/v1/kpis/:key/measurements", id: "addMeasurements", tag: "kpis", summary: "Record one measurement, a batch, or a CSV file",
			doc: "JSON: one measurement, or a batch under items; idempotent by id (without ids an Idempotency-Key derives them). " +
				"text/csv: a header line naming the columns id, at, value and optionally source (at: RFC 3339 or YYYY-MM-DD), one measurement per line, " +
				"idempotent per id; a file with any bad line stores nothing and the 422 lists every bad line. Each call tells the KPI's watch.",
			body: typeOf[measurementsBody](), bodyAlt: []string{"text/csv"},
			example: measurementsBody{measurementIn: measurementIn{ID: "shift-2026-11-20-a", Value: ptr(4.2), At: exampleTime, Source: "MES"}},
			resp:    typeOf[measurementsAnswer](), status: http.StatusCreated, rule: roles(opsflow.RolesMeasure...), handler: s.addMeasurements,
			errBodies: map[int]reflect.Type{http.StatusUnprocessableEntity: typeOf[csvErrorBody]()}},
		{method: "GET", path: "/v1/kpis/:key/measurements", id: "listMeasurements", tag: "kpis", summary: "A KPI's measurements in time order",
			resp: typeOf[opsflow.Measurement](), list: true, rule: anyUser(), handler: s.listMeasurements,
			query: []param{{"from", "date-time", "at or after", nil}, {"to", "date-time", "before", nil}, pLimit, pCursor}},
		{method: "POST", path: "/v1/kpis/:key/commentary", id: "addKPICommentary", tag: "kpis", summary: "The owner's one line on a red or amber month, for the report",
			doc:  "Closes the owner's commentary task for the month. The same text again answers 200.",
			body: typeOf[commentaryBody](), example: commentaryBody{Period: "2026-10", Text: "Tool wear on line 4; new vents fitted 12 Nov, CAPA capa-3f… open."},
			resp: typeOf[postgres.Commentary](), status: http.StatusCreated, rule: kpiOwner(opsflow.RoleAdmin), handler: s.addCommentary},
		{method: "GET", path: "/v1/kpis/:key/audit", id: "auditKPI", tag: "kpis", summary: "The KPI's audit trail: definition changes and what its watch did",
			resp: typeOf[opsflow.AuditEvent](), list: true, rule: anyUser(), handler: s.kpiAudit},
	}
}

// prepareEffectiveness adds to a CAPA's effectiveness review what the
// cited KPI's chart shows over the effectiveness window, against the
// process before the CAPA was opened (the plan's KPI, or the KPI whose
// signal opened the CAPA). The reviewer still decides; the record shows
// both. A KPI that cannot be charted leaves the chart out.
func (s *Server) prepareEffectiveness(c echo.Context, call opsflow.Call, body any) (any, error) {
	in, err := opsflow.CAPAStep.RecordEffectiveness.Input(call, body.(opsflow.EffectivenessInput))
	if err != nil {
		return nil, err
	}
	in.Chart = nil // the server's to set, never the client's
	ctx := c.Request().Context()
	var rec opsflow.CAPA
	if err := s.readRecord(ctx, opsflow.KindCAPA, c.Param("id"), &rec); err != nil {
		return nil, err
	}
	eff := rec.Effectiveness
	if eff == nil || eff.WindowStart == nil || eff.WindowEnd == nil {
		return in, nil
	}
	key := eff.Plan.KPI
	if key == "" && rec.KPISignal != nil {
		key = rec.KPISignal.KPI.Key
	}
	if key == "" {
		return in, nil
	}
	d, err := s.Store.GetKPIDefinition(ctx, key)
	if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
		return in, nil
	} else if err != nil {
		return nil, err
	}
	ms, err := s.Store.AllMeasurements(ctx, key, *eff.WindowEnd)
	if err != nil {
		return nil, err
	}
	ch, err := kpichart.Build(d, ms)
	if err != nil {
		return in, nil
	}
	if in.Chart, err = kpichart.Shift(d, ch, rec.OpenedAt, *eff.WindowStart, *eff.WindowEnd); err != nil {
		in.Chart = nil
	}
	return in, nil
}

// prepareCAPAPlan checks that the KPI a CAPA's effectiveness plan cites
// exists, so a typo is a 422 now rather than a review without a chart.
func (s *Server) prepareCAPAPlan(c echo.Context, call opsflow.Call, body any) (any, error) {
	in, err := opsflow.CAPAStep.ProposePlan.Input(call, body.(opsflow.PlanInput))
	if err != nil {
		return nil, err
	}
	if key := in.Effectiveness.KPI; key != "" {
		if _, err := s.Store.GetKPI(c.Request().Context(), key); opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return nil, opsflow.Invalid("effectiveness.kpi", "unknown kpi %q", key)
		} else if err != nil {
			return nil, err
		}
	}
	return in, nil
}
