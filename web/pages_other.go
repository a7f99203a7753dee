package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
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
	Items []opsflow.KPI
	Pager pager
}

func (a *App) kpiList(w http.ResponseWriter, r *http.Request, s *session) {
	q := listQuery(r)
	var page opsflow.Page[opsflow.KPI]
	if err := a.get(r.Context(), s, "/v1/kpis", q, &page); err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	a.render(w, r, http.StatusOK, "kpis", a.frame(w, r, s, "KPIs", "kpis"), kpisView{Items: page.Items, Pager: newPager("/kpis", q, page.NextCursor)})
}

type kpiView struct {
	K           kpiRecord
	Chart       kpiChart
	Initiatives []opsflow.Kaizen
	Now         time.Time
}

// kpiRecord is what GET /v1/kpis/{key} answers: the definition and, once
// the API judges KPIs, its status against the target and the processes
// its signals opened.
type kpiRecord struct {
	opsflow.KPI
	Status    *opsflow.KPIStatus `json:"status,omitempty"`
	Target    *opsflow.KPITarget `json:"target,omitempty"`
	Processes []opsflow.KPILink  `json:"processes"`
}

// Judged reports whether the API says how the KPI stands.
func (k kpiRecord) Judged() bool { return k.Status != nil && k.Status.Status != "" }

func (a *App) kpiPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, key := r.Context(), r.PathValue("key")
	v := kpiView{Now: a.Now().UTC()}
	if err := a.get(ctx, s, "/v1/kpis/"+url.PathEscape(key), nil, &v.K); err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	var target *opsflow.Target
	if v.K.Target != nil {
		target = &opsflow.Target{Value: &v.K.Target.Value}
	}
	v.Chart = a.chartOf(ctx, s, v.K.Ref(), nil, target, v.Now.AddDate(0, -2, 0))
	var page opsflow.Page[opsflow.Kaizen]
	if err := a.get(ctx, s, "/v1/kaizen", url.Values{"kpi": {key}}, &page); err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	v.Initiatives = page.Items
	a.render(w, r, http.StatusOK, "kpi", a.frame(w, r, s, v.K.Name, "kpis"), v)
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
}

// reports lists the monthly reports, newest month first, to open or
// download; or says they are still to come, on an API without them.
func (a *App) reports(w http.ResponseWriter, r *http.Request, s *session) {
	v := reportsView{Pending: !a.API.Serves(http.MethodGet, reportsRoute)}
	if !v.Pending {
		q := listQuery(r)
		var page opsflow.Page[opsflow.Report]
		if err := a.get(r.Context(), s, reportsRoute, q, &page); err != nil {
			a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
			return
		}
		v.Items, v.Pager = page.Items, newPager("/reports", q, page.NextCursor)
	}
	a.render(w, r, http.StatusOK, "reports", a.frame(w, r, s, "Reports", "reports"), v)
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
