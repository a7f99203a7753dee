package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
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
	K           opsflow.KPI
	Chart       kpiChart
	Initiatives []opsflow.Kaizen
	Now         time.Time
}

func (a *App) kpiPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, key := r.Context(), r.PathValue("key")
	v := kpiView{Now: a.Now().UTC()}
	if err := a.get(ctx, s, "/v1/kpis/"+url.PathEscape(key), nil, &v.K); err != nil {
		a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
		return
	}
	v.Chart = a.chartOf(ctx, s, v.K.Ref(), nil, nil, v.Now.AddDate(0, -2, 0))
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

// reportsRoute lists the monthly reports (the KPI issue adds it).
const reportsRoute = "/v1/reports"

type reportsView struct {
	Pending bool
	Columns []string
	Rows    [][]string
	Links   []string
}

// reports lists what the API's reports route answers, generically (its
// items' scalar fields), or says the reports are still to come.
func (a *App) reports(w http.ResponseWriter, r *http.Request, s *session) {
	v := reportsView{Pending: !a.API.Serves(http.MethodGet, reportsRoute)}
	if !v.Pending {
		var page struct {
			Items []map[string]any `json:"items"`
		}
		if err := a.get(r.Context(), s, reportsRoute, nil, &page); err != nil {
			a.errorPage(w, r, statusOf(err), opsflow.ErrorMessage(err))
			return
		}
		cols := map[string]bool{}
		for _, it := range page.Items {
			for k, x := range it {
				switch x.(type) {
				case string, float64, bool:
					cols[k] = true
				}
			}
		}
		for k := range cols {
			v.Columns = append(v.Columns, k)
		}
		sort.Strings(v.Columns)
		for _, it := range page.Items {
			row := make([]string, len(v.Columns))
			for i, k := range v.Columns {
				if x, ok := it[k]; ok {
					row[i] = fmt.Sprint(x)
				}
			}
			v.Rows = append(v.Rows, row)
		}
	}
	a.render(w, r, http.StatusOK, "reports", a.frame(w, r, s, "Reports", "reports"), v)
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
