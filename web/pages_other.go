package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// ---- KPIs

// chartRoute is the API's XmR chart of a KPI (the KPI issue adds it):
// pages embed it once the API serves it, and draw a plain run chart of
// the measurements until then.
const chartRoute = "/v1/kpis/{key}/chart.png"

// kpiChart is what a page shows of a KPI's course: the API's XmR chart,
// or a run chart of the recent measurements with the baseline and target.
type kpiChart struct {
	Key, Name, Unit string
	Image           string
	Run             *runChart
	Latest          []opsflow.Measurement
}

// runChart is an SVG line of measurements, scaled to a W×H box.
type runChart struct {
	W, H                       int
	Points                     string
	BaselineY, TargetY         float64
	HasBaseline, HasTarget     bool
	Min, Max                   float64
	From, To                   time.Time
	BaselineLabel, TargetLabel string
}

// chartOf reads up to 200 measurements from from on (the API lists them
// oldest first) for the run chart and the latest ten.
func (a *App) chartOf(ctx context.Context, s *session, k opsflow.KPIRef, baseline *opsflow.Baseline, target *opsflow.Target, from time.Time) kpiChart {
	c := kpiChart{Key: k.Key, Name: k.Name, Unit: k.Unit}
	if k.Key == "" {
		return c
	}
	if a.API.Serves(http.MethodGet, chartRoute) {
		c.Image = "/kpis/" + url.PathEscape(k.Key) + "/chart.png"
	}
	var page opsflow.Page[opsflow.Measurement]
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "limit": {"200"}}
	if err := a.get(ctx, s, "/v1/kpis/"+url.PathEscape(k.Key)+"/measurements", q, &page); err != nil {
		a.Logger.WarnContext(ctx, "web: measurements", "kpi", k.Key, "err", err)
		return c
	}
	ms := page.Items
	c.Latest = slices.Clone(ms[max(0, len(ms)-10):])
	slices.Reverse(c.Latest)
	if c.Image == "" && len(ms) > 1 {
		var b, t *float64
		if baseline != nil {
			b = baseline.Value
		}
		if target != nil {
			t = target.Value
		}
		c.Run = newRunChart(ms, b, t)
	}
	return c
}

func newRunChart(ms []opsflow.Measurement, baseline, target *float64) *runChart {
	rc := &runChart{W: 640, H: 200, From: ms[0].At, To: ms[len(ms)-1].At}
	lo, hi := ms[0].Value, ms[0].Value
	for _, m := range ms {
		lo, hi = min(lo, m.Value), max(hi, m.Value)
	}
	for _, v := range []*float64{baseline, target} {
		if v != nil {
			lo, hi = min(lo, *v), max(hi, *v)
		}
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	pad := (hi - lo) * 0.08
	lo, hi = lo-pad, hi+pad
	rc.Min, rc.Max = lo, hi
	span := rc.To.Sub(rc.From).Seconds()
	y := func(v float64) float64 { return float64(rc.H) - (v-lo)/(hi-lo)*float64(rc.H) }
	var pts []string
	for _, m := range ms {
		x := 0.0
		if span > 0 {
			x = m.At.Sub(rc.From).Seconds() / span * float64(rc.W)
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y(m.Value)))
	}
	rc.Points = strings.Join(pts, " ")
	if baseline != nil {
		rc.HasBaseline, rc.BaselineY, rc.BaselineLabel = true, y(*baseline), fmt.Sprintf("baseline %.4g", *baseline)
	}
	if target != nil {
		rc.HasTarget, rc.TargetY, rc.TargetLabel = true, y(*target), fmt.Sprintf("target %.4g", *target)
	}
	return rc
}

type kpisView struct {
	Items  []opsflow.KPI
	Pager  pager
	Define *Form // define a KPI, for those who may
}

// kpisRoute lists the KPIs and registers one.
const kpisRoute = "/v1/kpis"

func (a *App) kpiList(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildKPIs(r.Context(), s, listQuery(r), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildKPIs(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	var page opsflow.Page[opsflow.KPI]
	if err := a.get(ctx, s, kpisRoute, q, &page); err != nil {
		return nil, err
	}
	v := &kpisView{Items: page.Items, Pager: newPager("/kpis", q, page.NextCursor)}
	out := &pageOut{page: "kpis", title: "KPIs", nav: "kpis", data: v}
	if s.User.HasAny(opsflow.RolesDefineKPI...) {
		v.Define = defineKPIForm(s)
		out.forms = []*Form{v.Define}
		st.apply(out.forms)
	}
	return out, nil
}

// Choices of the New KPI form.
var (
	directions = []Option{{string(opsflow.HigherIsBetter), "Higher is better (e.g. yield)"}, {string(opsflow.LowerIsBetter), "Lower is better (e.g. scrap, lead time)"}}
	policies   = []Option{{opsflow.RespondNone, "None: the chart shows the signal"}, {opsflow.RespondKaizen, "Open a Kaizen initiative"}, {opsflow.RespondCAPA, "Open a CAPA"}}
	capaTypes  = []Option{{opsflow.CAPATypeCorrective, "Corrective"}, {opsflow.CAPATypePreventive, "Preventive"}}
)

// defineKPIForm registers a KPI with what good is for it: what a manager
// sets. Rules and a locked baseline are the API's (POST /v1/kpis) and the
// KPI's defaults until then.
func defineKPIForm(s *session) *Form {
	return &Form{ID: "define-kpi", Title: "New KPI", Action: "/kpis", Submit: "Define the KPI", CSRF: s.CSRF, Key: randomToken(),
		Doc: "What is measured, which way is better and what good is. Control rules and a locked baseline keep their defaults; the API (POST /v1/kpis) sets them.",
		Fields: []Field{
			{Name: "key", Label: "Key", Type: inText, Autocomplete: "off",
				Help: "Lower-case letters, digits, '.', '_' or '-', e.g. scrap-line-4: systems send measurements under it. It never changes."},
			{Name: "name", Label: "Name", Type: inText, Autocomplete: "off"},
			{Name: "description", Label: "Description (optional)", Type: inTextarea, Rows: 2},
			{Name: "unit", Label: "Unit", Type: inText, Autocomplete: "off", Help: "e.g. %, minutes, defects per 1000."},
			{Name: "direction", Label: "Which way is better", Type: inSelect, Options: directions},
			{Name: "owner", Label: "Owner (user ID, optional)", Type: inText, Autocomplete: "off", Help: "You, when left empty."},
			{Name: "frequency", Label: "Measured", Type: inSelect, Options: opts(opsflow.Frequencies), Value: string(opsflow.Monthly)},
			{Name: "goal", Label: "Target and thresholds (optional)", Type: inSet,
				Help: "Amber and red are the values at which the status turns amber and red; red is worse than amber.", Fields: []Field{
					{Name: "target.value", Label: "Target", Type: inNumber},
					{Name: "target.effective_from", Label: "Target effective from", Type: inDate, Help: "From now on, when left empty."},
					{Name: "thresholds.amber", Label: "Amber at", Type: inNumber},
					{Name: "thresholds.red", Label: "Red at", Type: inNumber},
				}},
			{Name: "response", Label: "When the chart shows an unfavourable violation", Type: inSet, Fields: []Field{
				{Name: "policy.action", Label: "Response", Type: inSelect, Options: policies, Value: opsflow.RespondNone},
				{Name: "policy.sponsor", Label: "Sponsor of the Kaizen (user ID)", Type: inText, Autocomplete: "off",
					Help: "For a Kaizen: the approver who triages it, not its owner."},
				{Name: "policy.capa_type", Label: "Type of the CAPA", Type: inSelect, Options: capaTypes, Help: "For a CAPA: corrective, when left empty."},
			}},
		}}
}

// defineKPI registers a KPI: the API's POST /v1/kpis.
func (a *App) defineKPI(w http.ResponseWriter, r *http.Request, s *session) {
	a.submit(w, r, s, apiPost{method: http.MethodPost, route: kpisRoute, path: kpisRoute, home: "/kpis",
		page: func(ctx context.Context, st *formState) (*pageOut, error) {
			return a.buildKPIs(ctx, s, url.Values{}, st)
		},
		done: func(ans answer) (string, string) {
			var k opsflow.KPI
			_ = json.Unmarshal(ans.Body, &k)
			if ans.Status == http.StatusOK {
				return "KPI " + k.Key + " was defined so before: nothing changed.", kpiURL(k.Key)
			}
			return "KPI " + k.Key + " is defined: " + k.Name + ".", kpiURL(k.Key)
		}})
}

type kpiView struct {
	K           kpiRecord
	Chart       kpiChart
	Initiatives []opsflow.Kaizen
	Measure     *Form // record a measurement, for those who may
	SetTarget   *Form // set a target, for its owner and those who change KPIs
	// For the same people: the definition (thresholds and policy among
	// it), the baseline the limits come from, and a divider that starts
	// new limits.
	ChangeKPI, SetBaseline, AddDivider *Form
	Now                                time.Time
}

// kpiRecord is what GET /v1/kpis/{key} answers: the definition and, once
// the API judges KPIs, its status against the target and the processes
// its signals opened.
type kpiRecord struct {
	opsflow.KPI
	Status    *opsflow.KPIStatus  `json:"status,omitempty"`
	Target    *opsflow.KPITarget  `json:"target,omitempty"`
	Targets   []opsflow.KPITarget `json:"targets"` // every target set, with its date and reason
	Processes []opsflow.KPILink   `json:"processes"`
	// The rest of the definition: how it is measured, the thresholds, the
	// response policy, the baseline and the dividers that start new
	// limits.
	Frequency  opsflow.Frequency      `json:"frequency"`
	Missing    opsflow.MissingRule    `json:"missing"`
	Method     string                 `json:"method,omitempty"`
	Source     string                 `json:"source,omitempty"`
	Thresholds opsflow.Thresholds     `json:"thresholds"`
	Policy     opsflow.ResponsePolicy `json:"policy"`
	Rules      opsflow.ChartRules     `json:"rules"`
	Baseline   opsflow.ChartBaseline  `json:"baseline"`
	Dividers   []opsflow.KPIDivider   `json:"dividers"`
}

// Judged reports whether the API says how the KPI stands.
func (k kpiRecord) Judged() bool { return k.Status != nil && k.Status.Status != "" }

func (a *App) kpiPage(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildKPI(r.Context(), s, r.PathValue("key"), nil)
	a.show(w, r, s, out, err)
}

// measurementsRoute records a KPI's measurements.
const measurementsRoute = "/v1/kpis/{key}/measurements"

func kpiURL(key string) string { return "/kpis/" + url.PathEscape(key) }

func (a *App) buildKPI(ctx context.Context, s *session, key string, st *formState) (*pageOut, error) {
	v := &kpiView{Now: a.Now().UTC()}
	if err := a.get(ctx, s, "/v1/kpis/"+url.PathEscape(key), nil, &v.K); err != nil {
		return nil, err
	}
	var target *opsflow.Target
	if v.K.Target != nil {
		target = &opsflow.Target{Value: &v.K.Target.Value}
	}
	v.Chart = a.chartOf(ctx, s, v.K.Ref(), nil, target, v.Now.AddDate(0, -2, 0))
	var page opsflow.Page[opsflow.Kaizen]
	if err := a.get(ctx, s, "/v1/kaizen", url.Values{"kpi": {key}}, &page); err != nil {
		return nil, err
	}
	v.Initiatives = page.Items
	out := &pageOut{page: "kpi", title: v.K.Name, nav: "kpis", data: v}
	if s.User.HasAny(opsflow.RolesMeasure...) {
		v.Measure = measurementForm(s, v.K.KPI, v.Now)
		out.forms = append(out.forms, v.Measure)
	}
	if s.User.ID == v.K.OwnerID || s.User.HasAny(opsflow.RolesChangeKPI...) {
		v.SetTarget = targetForm(s, v.K.KPI)
		v.ChangeKPI = changeKPIForm(s, v.K)
		v.SetBaseline = baselineForm(s, v.K)
		v.AddDivider = dividerForm(s, v.K.KPI)
		out.forms = append(out.forms, v.SetTarget, v.ChangeKPI, v.SetBaseline, v.AddDivider)
	}
	st.apply(out.forms)
	return out, nil
}

// targetsRoute sets a KPI's target from a date on.
const targetsRoute = "/v1/kpis/{key}/targets"

// targetForm sets a new target of k from a date on; the ones before stay
// in its history.
func targetForm(s *session, k opsflow.KPI) *Form {
	return &Form{ID: "set-target", Title: "Set a target", Action: kpiURL(k.Key) + "/targets", Submit: "Set the target", CSRF: s.CSRF, Key: randomToken(),
		Doc: "A target holds from its date on; the earlier ones stay in the history. A target is never edited: set a new one from a later date.",
		Fields: []Field{
			{Name: "value", Label: "Target" + unitSuffix(k.Unit), Type: inNumber},
			{Name: "effective_from", Label: "Effective from", Type: inDate, Help: "From now on, when left empty."},
			{Name: "reason", Label: "Reason (optional)", Type: inText, Help: "Why this target, e.g. the 2027 plan: it goes in the KPI's audit trail."},
		}}
}

func unitSuffix(unit string) string {
	if unit == "" {
		return ""
	}
	return " (" + unit + ")"
}

// setTarget sets a KPI's target: the API's POST /v1/kpis/{key}/targets.
func (a *App) setTarget(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PathValue("key")
	a.submit(w, r, s, apiPost{method: http.MethodPost, route: targetsRoute, path: "/v1/kpis/" + url.PathEscape(key) + "/targets", home: kpiURL(key),
		page: func(ctx context.Context, st *formState) (*pageOut, error) { return a.buildKPI(ctx, s, key, st) },
		done: func(ans answer) (string, string) {
			var k kpiRecord
			_ = json.Unmarshal(ans.Body, &k)
			msg := "Target set."
			if t := latestTarget(k.Targets); t != nil {
				msg = fmt.Sprintf("Target set: %s from %s.", num(t.Value), t.EffectiveFrom.UTC().Format(time.DateOnly))
			}
			return msg, kpiURL(key)
		}})
}

// The routes that change a KPI's definition and its limits.
const (
	kpiRoute      = "/v1/kpis/{key}"
	baselineRoute = "/v1/kpis/{key}/baseline"
	dividersRoute = "/v1/kpis/{key}/dividers"
)

// changeKPIForm changes k's definition, filled in with what it is now.
// Unit and direction never change (the history would mean something
// else); the thresholds and the policy are replaced whole, so an amber or
// red left empty is removed.
func changeKPIForm(s *session, k kpiRecord) *Form {
	unit := unitSuffix(k.Unit)
	pol := k.Policy
	var risk [3]string
	if pol.Risk != nil {
		risk = [3]string{strconv.Itoa(pol.Risk.Severity), strconv.Itoa(pol.Risk.Occurrence), strconv.Itoa(pol.Risk.Detection)}
	}
	return &Form{ID: "change-kpi", Title: "Change the definition", Action: kpiURL(k.Key) + "/definition", Submit: "Save the changes", CSRF: s.CSRF, Key: randomToken(),
		Doc: "Each change is in the KPI's audit trail, with the reason. The unit and which way is better never change: define a new KPI instead.",
		Fields: []Field{
			{Name: "name", Label: "Name", Type: inText, Value: k.Name, Autocomplete: "off"},
			{Name: "description", Label: "Description", Type: inTextarea, Rows: 2, Value: k.Description},
			{Name: "owner", Label: "Owner (user ID)", Type: inText, Value: k.OwnerID, Autocomplete: "off"},
			{Name: "frequency", Label: "Measured", Type: inSelect, Options: opts(opsflow.Frequencies), Value: string(k.Frequency)},
			{Name: "missing.enabled", Label: "Give the owner a task when a measurement is missing", Type: inCheck, Value: strconv.FormatBool(k.Missing.Enabled)},
			{Name: "missing.grace_days", Label: "Days of grace after a period's measurement is due", Type: inNumber, Value: strconv.Itoa(k.Missing.GraceDays)},
			{Name: "method", Label: "Method", Type: inText, Value: k.Method, Help: "How it is measured, e.g. scrapped / started units per month."},
			{Name: "source", Label: "Source", Type: inText, Value: k.Source, Help: "Where the data come from, e.g. the MES shift report."},
			{Name: "limits", Label: "Thresholds", Type: inSet,
				Help: "The status turns amber, then red, when the actual is worse than these; an empty one is removed.", Fields: []Field{
					{Name: "thresholds.amber", Label: "Amber at" + unit, Type: inNumber, Value: numOrEmpty(k.Thresholds.Amber)},
					{Name: "thresholds.red", Label: "Red at" + unit, Type: inNumber, Value: numOrEmpty(k.Thresholds.Red)},
				}},
			{Name: "response", Label: "When the chart shows an unfavourable violation", Type: inSet, Fields: []Field{
				{Name: "policy.action", Label: "Response", Type: inSelect, Options: policies, Value: cmp.Or(pol.Action, opsflow.RespondNone)},
				{Name: "policy.owner", Label: "Owner of what it opens (user ID)", Type: inText, Value: pol.Owner, Autocomplete: "off", Help: "The KPI's owner, when left empty."},
				{Name: "policy.sponsor", Label: "Sponsor of the Kaizen (user ID)", Type: inText, Value: pol.Sponsor, Autocomplete: "off",
					Help: "For a Kaizen: the approver who triages it, not its owner."},
				{Name: "policy.capa_type", Label: "Type of the CAPA", Type: inSelect, Options: capaTypes, Value: pol.CAPAType},
				{Name: "policy.risk.severity", Label: "CAPA risk: severity (1–5)", Type: inNumber, Value: risk[0]},
				{Name: "policy.risk.occurrence", Label: "occurrence (1–5)", Type: inNumber, Value: risk[1]},
				{Name: "policy.risk.detection", Label: "detection (1–5)", Type: inNumber, Value: risk[2]},
			}},
			{Name: "detection", Label: "Detection rules", Type: inSet,
				Help:   "What each of the chart's rules is: a violation acts as the response says; a warning is shown on the chart and the report; ignored is neither.",
				Fields: ruleFields(k.Rules)},
			{Name: "reason", Label: "Reason", Type: inText, Help: "Why it changes: it goes in the KPI's audit trail."},
		}}
}

// ruleLabels name the chart's detection rules for people.
var ruleLabels = map[string]string{
	opsflow.RuleBeyondLimits:   "A point beyond the natural process limits",
	opsflow.RuleThreeOfFour:    "3 of 4 points nearer a limit than the centre line",
	opsflow.RuleEightOnOneSide: "8 points in a row on one side of the centre line",
	opsflow.RuleMRAboveURL:     "A moving range above its upper limit (a jump)",
}

var severities = []Option{{opsflow.SeverityViolation, "Violation"}, {opsflow.SeverityWarning, "Warning"}, {opsflow.SeverityIgnore, "Ignored"}}

// ruleFields is a select per detection rule, set to what rules say.
func ruleFields(rules opsflow.ChartRules) []Field {
	out := make([]Field, len(opsflow.ChartRuleNames))
	for i, name := range opsflow.ChartRuleNames {
		out[i] = Field{Name: "rules." + name, Label: ruleLabels[name], Type: inSelect, Options: severities, Value: rules.Severity(name)}
	}
	return out
}

func numOrEmpty(v *float64) string {
	if v == nil {
		return ""
	}
	return num(*v)
}

// baselineForm locks the limits on a baseline, or unlocks them (they
// then follow every value of the segment).
func baselineForm(s *session, k kpiRecord) *Form {
	b := k.Baseline
	title, n, from, to := "Lock the control limits", "", "", ""
	if b.Locked {
		title = "Change the baseline"
	}
	if b.N > 0 {
		n = strconv.Itoa(b.N)
	}
	if b.From != nil {
		from = b.From.UTC().Format(time.DateOnly)
	}
	if b.To != nil {
		to = b.To.UTC().Format(time.DateOnly)
	}
	return &Form{ID: "set-baseline", Title: title, Action: kpiURL(k.Key) + "/baseline", Submit: "Save the baseline", CSRF: s.CSRF, Key: randomToken(),
		Doc: "Locked, the limits come from a baseline (the first 20 values, or as many as you say, or those dated between two days) and later values are judged against them. Unlocked, they follow every value.",
		Fields: []Field{
			{Name: "locked", Label: "Locked", Type: inCheck, Value: strconv.FormatBool(b.Locked)},
			{Name: "n", Label: "From the first n values", Type: inNumber, Value: n, Help: "20 when left empty and no dates are given."},
			{Name: "from", Label: "Or from the values dated from", Type: inDate, Value: from},
			{Name: "to", Label: "up to (not including)", Type: inDate, Value: to},
			{Name: "reason", Label: "Reason", Type: inText, Help: "E.g. the process has been stable since January: it goes in the KPI's audit trail."},
		}}
}

// dividerForm starts new control limits after a deliberate change.
func dividerForm(s *session, k opsflow.KPI) *Form {
	return &Form{ID: "add-divider", Title: "Start new limits", Action: kpiURL(k.Key) + "/dividers", Submit: "Start new limits", CSRF: s.CSRF, Key: randomToken(),
		Doc: "After a deliberate change to the process (a standard, a new machine), the values from this day on get limits of their own. Its first five values give provisional limits, which open nothing.",
		Fields: []Field{
			{Name: "at", Label: "From", Type: inDate},
			{Name: "label", Label: "What changed", Type: inText, Help: "E.g. SOP-MLD-12 v4 in force: it labels the chart."},
		}}
}

// changeKPI changes a KPI's definition: PATCH /v1/kpis/{key}. The
// missing-measurement box left unticked is sent as off (left out, the API
// would keep the rule as it is).
func (a *App) changeKPI(w http.ResponseWriter, r *http.Request, s *session) {
	a.kpiChange(w, r, s, http.MethodPatch, kpiRoute, "", "Definition saved.", func(body map[string]any) {
		leftOut(body, "missing.enabled", false)
	})
}

// setBaseline locks or unlocks a KPI's baseline.
func (a *App) setBaseline(w http.ResponseWriter, r *http.Request, s *session) {
	a.kpiChange(w, r, s, http.MethodPost, baselineRoute, "/baseline", "Baseline saved: the chart's limits follow it.", nil)
}

// addDivider starts new limits on a KPI's chart.
func (a *App) addDivider(w http.ResponseWriter, r *http.Request, s *session) {
	a.kpiChange(w, r, s, http.MethodPost, dividersRoute, "/dividers", "New limits start on the chart.", nil)
}

// kpiChange sends one of a KPI's definition forms to the API and goes
// back to the KPI's page.
func (a *App) kpiChange(w http.ResponseWriter, r *http.Request, s *session, method, route, suffix, msg string, adjust func(map[string]any)) {
	key := r.PathValue("key")
	a.submit(w, r, s, apiPost{method: method, route: route, path: "/v1/kpis/" + url.PathEscape(key) + suffix, home: kpiURL(key), adjust: adjust,
		page: func(ctx context.Context, st *formState) (*pageOut, error) { return a.buildKPI(ctx, s, key, st) },
		done: func(answer) (string, string) { return msg, kpiURL(key) }})
}

// latestTarget is the target set last.
func latestTarget(ts []opsflow.KPITarget) *opsflow.KPITarget {
	var out *opsflow.KPITarget
	for i := range ts {
		if out == nil || ts[i].SetAt.After(out.SetAt) {
			out = &ts[i]
		}
	}
	return out
}

// measurementForm records one measurement of k, observed now unless
// said otherwise.
func measurementForm(s *session, k opsflow.KPI, now time.Time) *Form {
	unit := unitSuffix(k.Unit)
	return &Form{ID: "record-measurement", Title: "Record a measurement", Action: kpiURL(k.Key) + "/measurements", Submit: "Record", CSRF: s.CSRF, Key: randomToken(),
		Doc: "One value, as a person reads it; systems send theirs to the API. The KPI's chart and its signals take it in at once.",
		Fields: []Field{
			{Name: "value", Label: "Value" + unit, Type: inNumber},
			{Name: "at", Label: "Observed at (UTC)", Type: inDateTime, Value: now.UTC().Format("2006-01-02T15:04")},
			{Name: "source", Label: "Source or note (optional)", Type: inText, Help: "Where the value comes from: a gauge, a count, a shift log."},
			{Name: "id", Label: "Measurement ID (optional)", Type: inText, Autocomplete: "off",
				Help: "Your own key for it, e.g. shift-2026-11-20-a: the same ID is never recorded twice."},
		}}
}

// recordMeasurement records one measurement: the API's POST
// /v1/kpis/{key}/measurements.
func (a *App) recordMeasurement(w http.ResponseWriter, r *http.Request, s *session) {
	key := r.PathValue("key")
	a.submit(w, r, s, apiPost{method: http.MethodPost, route: measurementsRoute, path: "/v1/kpis/" + url.PathEscape(key) + "/measurements", home: kpiURL(key),
		page: func(ctx context.Context, st *formState) (*pageOut, error) { return a.buildKPI(ctx, s, key, st) },
		done: func(ans answer) (string, string) {
			var got struct {
				Items []opsflow.Measurement `json:"items"`
				Added int                   `json:"added"`
			}
			_ = json.Unmarshal(ans.Body, &got)
			if got.Added == 0 {
				return "That measurement was recorded before: nothing changed.", kpiURL(key)
			}
			msg := "Measurement recorded."
			if len(got.Items) == 1 {
				m := got.Items[0]
				msg = fmt.Sprintf("Measurement recorded: %s at %s.", num(m.Value), utc(m.At))
			}
			return msg, kpiURL(key)
		}})
}

// kpiChart passes the API's chart image through, once it has one.
func (a *App) kpiChart(w http.ResponseWriter, r *http.Request, s *session) {
	if !a.API.Serves(http.MethodGet, chartRoute) {
		a.notFound(w, r)
		return
	}
	a.download(w, r, s, "/v1/kpis/"+url.PathEscape(r.PathValue("key"))+"/chart.png", r.URL.Query())
}

// ---- reports

// reportsRoute lists the monthly reports.
const reportsRoute = "/v1/reports"

type reportsView struct {
	Pending bool
	Items   []opsflow.Report
	Pager   pager
	Run     *Form // run a month's report now, for those who may
}

// reports lists the monthly reports, newest month first, to open or
// download; or says they are still to come, on an API without them.
func (a *App) reports(w http.ResponseWriter, r *http.Request, s *session) {
	out, err := a.buildReports(r.Context(), s, listQuery(r), nil)
	a.show(w, r, s, out, err)
}

func (a *App) buildReports(ctx context.Context, s *session, q url.Values, st *formState) (*pageOut, error) {
	v := &reportsView{Pending: !a.API.Serves(http.MethodGet, reportsRoute)}
	out := &pageOut{page: "reports", title: "Reports", nav: "reports", data: v}
	if v.Pending {
		return out, nil
	}
	var page opsflow.Page[opsflow.Report]
	if err := a.get(ctx, s, reportsRoute, q, &page); err != nil {
		return nil, err
	}
	v.Items, v.Pager = page.Items, newPager("/reports", q, page.NextCursor)
	if s.User.HasAny(opsflow.RolesRunReport...) && a.API.Serves(http.MethodPost, reportsRoute) {
		v.Run = runReportForm(s, a.Now())
		out.forms = []*Form{v.Run}
		st.apply(out.forms)
	}
	return out, nil
}

// runReportForm asks for a month's report now; it offers last month.
func runReportForm(s *session, now time.Time) *Form {
	y, m, _ := now.UTC().Date()
	last := time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
	return &Form{ID: "run-report", Title: "Run a month's report now", Action: "/reports", Submit: "Run the report", CSRF: s.CSRF, Key: randomToken(),
		Doc: "The schedule makes each month's report; this makes one now, for a month that has ended. It takes a moment: the KPIs are measured and the PDF printed. A month that has its report keeps it: a report is made once and never changes.",
		Fields: []Field{
			{Name: "period", Label: "Month", Type: inMonth, Value: last, Help: "Year and month, e.g. " + last + "."},
			{Name: "time_zone", Label: "Time zone (optional)", Type: inText, Autocomplete: "off",
				Help: "The month runs from midnight to midnight there: the schedule's time zone, or UTC, when left empty."},
		}}
}

// runReport runs a month's report: the API's POST /v1/reports.
func (a *App) runReport(w http.ResponseWriter, r *http.Request, s *session) {
	month := r.PostFormValue("period")
	a.submit(w, r, s, apiPost{method: http.MethodPost, route: reportsRoute, path: reportsRoute, home: "/reports",
		page: func(ctx context.Context, st *formState) (*pageOut, error) {
			return a.buildReports(ctx, s, url.Values{}, st)
		},
		done: func(ans answer) (string, string) {
			var rep opsflow.Report
			_ = json.Unmarshal(ans.Body, &rep)
			switch ans.Status {
			case http.StatusAccepted:
				return "The report for " + month + " is being made: it is listed here in a moment (reload the page).", "/reports"
			case http.StatusOK:
				return "The report for " + rep.Period + " was made before; a report never changes, so here it is as it was made.", "/reports"
			}
			return "The report for " + rep.Period + " is made.", "/reports"
		}})
}

// reportFile opens a report's HTML or downloads its PDF: the API's stored
// bytes, passed through. A report's HTML carries its own styles, so it is
// served under a policy of its own: inline styles, no scripts, sandboxed.
func (a *App) reportFile(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("file")
	id, format := strings.TrimSuffix(name, ".html"), "html"
	if strings.HasSuffix(name, ".pdf") {
		id, format = strings.TrimSuffix(name, ".pdf"), "pdf"
	} else if !strings.HasSuffix(name, ".html") {
		a.notFound(w, r)
		return
	}
	if format == "html" {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; sandbox")
	}
	a.download(w, r, s, "/v1/reports/"+url.PathEscape(id), url.Values{"format": {format}})
}

// ---- the audit view

type auditView struct {
	Allowed bool
	Stream  string
	Report  *opsflow.VerifyReport
	Error   string
	From    string
	To      string
}

func (a *App) audit(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	v := auditView{Allowed: s.User.HasAny(opsflow.RolesAudit...), Stream: q.Get("stream"), From: q.Get("closed_from"), To: q.Get("closed_to")}
	if v.From == "" {
		v.From = a.Now().UTC().AddDate(0, -1, 0).Format(time.DateOnly)
		v.To = a.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	}
	status := http.StatusOK
	if v.Allowed && q.Get("verify") != "" {
		vq := url.Values{}
		if v.Stream != "" {
			vq.Set("stream", v.Stream)
		}
		var rep opsflow.VerifyReport
		if err := a.get(r.Context(), s, "/v1/audit/verify", vq, &rep); err != nil {
			v.Error, status = opsflow.ErrorMessage(err), statusOf(err)
		} else {
			v.Report = &rep
		}
	}
	a.render(w, r, status, "audit", a.frame(w, r, s, "Audit", "audit"), v)
}

// auditExport downloads every CAPA closed in a period: the API's export.
func (a *App) auditExport(w http.ResponseWriter, r *http.Request, s *session) {
	q := url.Values{}
	for _, k := range []string{"closed_from", "closed_to", "format"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	a.download(w, r, s, "/v1/capas/export", q)
}
