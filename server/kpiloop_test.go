package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	_ "image/png" // decodes the chart
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// monthsAgo is the first of the month n months before this one, UTC.
func monthsAgo(n int) time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -n, 0)
}

// scrapMonths are 24 months of a scrap rate (lower is better) around 4 %,
// with one special cause: 7.5 in month 15.
var scrapMonths = []float64{4.1, 3.8, 4.4, 4.0, 3.9, 4.2, 4.3, 3.7, 4.0, 4.1, 3.9, 4.2,
	4.0, 3.8, 4.1, 7.5, 4.2, 3.9, 4.0, 4.3, 3.8, 4.1, 4.0, 3.9}

type kpiView struct {
	Key       string            `json:"key"`
	Status    opsflow.KPIStatus `json:"status"`
	Processes []opsflow.KPILink `json:"processes"`
	Version   int64             `json:"version"`
	Policy    struct {
		Action string `json:"action"`
	} `json:"policy"`
}

func (a *app) kpi(key string) kpiView {
	a.t.Helper()
	var v kpiView
	a.Must(http.StatusOK, "carol", "GET", "/v1/kpis/"+key, nil).JSON(a.t, &v)
	return v
}

// capasOf lists the CAPAs a KPI's signals opened, as the CAPA list shows
// them.
func (a *app) capasOf(key string) []opsflow.CAPA {
	a.t.Helper()
	var page struct {
		Items []opsflow.CAPA `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas?source=kpi_signal&limit=200", nil).JSON(a.t, &page)
	var out []opsflow.CAPA
	for _, c := range page.Items {
		if c.KPISignal != nil && c.KPISignal.KPI.Key == key {
			out = append(out, c)
		}
	}
	return out
}

// TestKPILoop: a KPI defined with a CAPA policy, 24 months uploaded as CSV
// with one special cause → exactly one CAPA, linked both ways; the chart as
// JSON and as a PNG; the same file again adds nothing; a bad file stores
// nothing; a later special cause while the CAPA is open is added to it;
// once it is cancelled, the next one opens a new CAPA. Then the month's
// commentary round, the report (HTML, PDF whose text has the KPIs, their
// targets and the RAG words) and its re-run, which returns the same report.
func TestKPILoop(t *testing.T) {
	a := newApp(t)
	key := newKPIKey(t)
	path := "/v1/kpis/" + key

	// A definition with bad thresholds is refused naming the field.
	bad := map[string]any{"key": key, "name": "Scrap rate L4", "unit": "%", "direction": "lower",
		"thresholds": map[string]any{"amber": 6, "red": 5}}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/kpis", bad).Err(t); e.Field != "thresholds.red" {
		t.Errorf("bad thresholds: field %q", e.Field)
	}
	def := map[string]any{"key": key, "name": "Scrap rate L4", "unit": "%", "direction": "lower",
		"frequency": "monthly", "method": "scrapped / started units per month", "source": "MES",
		"target":     map[string]any{"value": 4.25, "effective_from": monthsAgo(30)},
		"thresholds": map[string]any{"amber": 4.6},
		"policy":     map[string]any{"action": "capa", "capa_type": "corrective", "risk": map[string]any{"severity": 3, "occurrence": 2, "detection": 2}}}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", def)
	a.Must(http.StatusOK, "alice", "POST", "/v1/kpis", def) // the same definition: a retry
	a.Must(http.StatusOK, "alice", "POST", path+"/baseline", map[string]any{"locked": true, "n": 12, "reason": "first year stable"})
	a.Must(http.StatusOK, "alice", "PATCH", path, map[string]any{"thresholds": map[string]any{"amber": 4.6, "red": 5.5}, "reason": "agreed"})
	a.Must(http.StatusForbidden, "dave", "PATCH", path, map[string]any{"name": "mine now"})

	// 24 months as CSV, dated 27 to 4 months ago.
	var csv strings.Builder
	csv.WriteString("id,at,value,source\n")
	for i, v := range scrapMonths {
		at := monthsAgo(27 - i)
		fmt.Fprintf(&csv, "%s,%s,%v,MES\n", at.Format("2006-01"), at.Format(time.DateOnly), v)
	}
	mpath := path + "/measurements"
	var added struct {
		Added int `json:"added"`
	}
	a.Must(http.StatusCreated, "alice", "POST", mpath, csv.String(), "Content-Type", "text/csv").JSON(t, &added)
	if added.Added != 24 {
		t.Fatalf("added %d", added.Added)
	}
	a.Eventually("one CAPA opened by the special cause", 30*time.Second, func() bool { return len(a.kpi(key).Processes) == 1 })
	a.Must(http.StatusOK, "alice", "POST", mpath, csv.String(), "Content-Type", "text/csv").JSON(t, &added) // the same file again
	if added.Added != 0 {
		t.Errorf("re-upload added %d", added.Added)
	}
	// A file with bad lines stores nothing and names every bad line.
	badCSV := "id,at,value\nx1," + monthsAgo(3).Format(time.DateOnly) + ",4.0\nx2,yesterday,4.1\nx3," + monthsAgo(3).Format(time.DateOnly) + ",four\n"
	r := a.Must(http.StatusUnprocessableEntity, "alice", "POST", mpath, badCSV, "Content-Type", "text/csv")
	var csvErr struct {
		Lines []struct {
			Line  int    `json:"line"`
			Field string `json:"field"`
		} `json:"lines"`
	}
	r.JSON(t, &csvErr)
	if len(csvErr.Lines) != 2 || csvErr.Lines[0].Line != 3 || csvErr.Lines[0].Field != "at" || csvErr.Lines[1].Line != 4 || csvErr.Lines[1].Field != "value" {
		t.Errorf("bad lines %+v", csvErr.Lines)
	}
	var page struct {
		Items []opsflow.Measurement `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", mpath+"?limit=200", nil).JSON(t, &page)
	if len(page.Items) != 24 {
		t.Errorf("%d measurements stored, want 24: a refused file stores nothing", len(page.Items))
	}

	capas := a.capasOf(key)
	if len(capas) != 1 {
		t.Fatalf("%d CAPAs for one special cause, want exactly 1", len(capas))
	}
	capa := capas[0]
	special := monthsAgo(27 - 15).Format("2006-01")
	if s := capa.KPISignal; s.Rule != opsflow.RuleBeyondLimits || s.PointID != special || s.Chart != path+"/chart.png" || s.Risk == nil || s.Risk.Severity != 3 {
		t.Errorf("CAPA's KPI link %+v", s)
	}
	if capa.Source.Type != "kpi_signal" || !slices.Contains(capa.Source.Refs, "kpi:"+key) || capa.Owner != "alice" {
		t.Errorf("CAPA source %+v, owner %s", capa.Source, capa.Owner)
	}
	if v := a.kpi(key); v.Processes[0].ProcessID != capa.ID || v.Processes[0].Kind != opsflow.KindCAPA || v.Processes[0].Rule != opsflow.RuleBeyondLimits {
		t.Errorf("KPI's processes %+v", v.Processes)
	}

	// The chart: JSON with the signal, and a PNG that decodes.
	var ch struct {
		Points   []struct{ ID string } `json:"points"`
		Segments []struct {
			Limits struct {
				N      int  `json:"n"`
				Locked bool `json:"locked"`
			} `json:"limits"`
		} `json:"segments"`
		Signals []struct {
			Rule    string `json:"rule"`
			PointID string `json:"point_id"`
		} `json:"signals"`
	}
	a.Must(http.StatusOK, "carol", "GET", path+"/chart", nil).JSON(t, &ch)
	if len(ch.Points) != 24 || len(ch.Segments) != 1 || ch.Segments[0].Limits.N != 12 || !ch.Segments[0].Limits.Locked ||
		!slices.ContainsFunc(ch.Signals, func(s struct {
			Rule    string `json:"rule"`
			PointID string `json:"point_id"`
		}) bool {
			return s.Rule == "beyond_limits" && s.PointID == special
		}) {
		t.Errorf("chart %+v", ch)
	}
	img := a.Must(http.StatusOK, "carol", "GET", path+"/chart.png?mr=true", nil)
	if ct := img.Header.Get("Content-Type"); ct != "image/png" {
		t.Errorf("content type %q", ct)
	}
	if m, format, err := image.Decode(bytes.NewReader(img.Body)); err != nil || format != "png" || m.Bounds().Dx() != 800 {
		t.Errorf("chart.png: %v (%s)", err, format)
	}
	a.Must(http.StatusOK, "carol", "GET", path+"/chart.svg", nil)

	// Another special cause while the CAPA is open: added to it.
	a.Must(http.StatusCreated, "alice", "POST", mpath, map[string]any{"id": "late-1", "value": 7.8, "at": monthsAgo(3)})
	a.Eventually("the second signal added to the open CAPA", 30*time.Second, func() bool {
		var c opsflow.CAPA
		a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+capa.ID, nil).JSON(t, &c)
		return len(c.KPISignals) == 1 && c.KPISignals[0].PointID == "late-1"
	})
	if n := len(a.capasOf(key)); n != 1 {
		t.Fatalf("%d CAPAs after a signal while one is open, want 1", n)
	}
	// In-limit noise opens nothing; once the CAPA is cancelled, the next
	// special cause opens a new one.
	a.Must(http.StatusOK, "alice", "POST", "/v1/capas/"+capa.ID+"/cancel", map[string]any{"reason": "handled under the line 4 rebuild"})
	a.Must(http.StatusCreated, "alice", "POST", mpath, map[string]any{"id": "late-2", "value": 4.0, "at": monthsAgo(2)})
	a.Must(http.StatusCreated, "alice", "POST", mpath, map[string]any{"id": "late-3", "value": 8.1, "at": monthsAgo(1)})
	a.Eventually("a new CAPA once the first closed", 30*time.Second, func() bool { return len(a.capasOf(key)) == 2 })
	var audit struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", path+"/audit", nil).JSON(t, &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	for _, want := range []string{"kpi.defined", "kpi.target_set", "kpi.baseline_locked", "kpi.changed", "kpi.process_opened", "kpi.signal_noted"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/audit/verify?stream=kpi/"+key, nil)
	saveHistory(t, a, capa.ID, "capa_kpi_signal_engine2")
	saveHistory(t, a, workflows.KPIWatchID(key), "kpi_watch")

	// Two more KPIs for the month: one green, one amber.
	green, amber := key+"-otd", key+"-fpy"
	a.Must(http.StatusCreated, "bob", "POST", "/v1/kpis", map[string]any{"key": green, "name": "On-time delivery", "unit": "%", "direction": "higher",
		"owner": "bob", "target": map[string]any{"value": 95.5, "effective_from": monthsAgo(12)}})
	a.Must(http.StatusCreated, "bob", "POST", "/v1/kpis", map[string]any{"key": amber, "name": "First-pass yield", "unit": "%", "direction": "higher",
		"owner": "bob", "target": map[string]any{"value": 88.75, "effective_from": monthsAgo(12)}})
	items := func(values ...float64) map[string]any {
		var it []map[string]any
		for i, v := range values {
			it = append(it, map[string]any{"id": fmt.Sprintf("m%d", i), "value": v, "at": monthsAgo(len(values) - i)})
		}
		return map[string]any{"items": it}
	}
	a.Must(http.StatusCreated, "bob", "POST", "/v1/kpis/"+green+"/measurements", items(96, 97, 96.5, 97.5, 96, 97))
	a.Must(http.StatusCreated, "bob", "POST", "/v1/kpis/"+amber+"/measurements", items(87, 86.5, 87.5, 86, 87, 86.5))

	// The commentary round for last month: red and amber owners get a task.
	month := monthsAgo(1).Format("2006-01")
	run := func(id, workflow, history string, in workflows.MonthlyInput, out any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		wr, err := a.TC.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: a.Queue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL}, workflow, in)
		if err != nil {
			t.Fatalf("start %s: %v", workflow, err)
		}
		if err := wr.Get(ctx, out); err != nil {
			t.Fatalf("%s: %v", workflow, err)
		}
		if history != "" {
			saveHistory(t, a, id, history)
		}
	}
	var round workflows.CommentaryOutcome
	run("commentary-"+key, workflows.WorkflowReportCommentary, "report_commentary", workflows.MonthlyInput{Period: month, TimeZone: "UTC", CommentaryDays: 3}, &round)
	var inbox struct {
		Items []opsflow.TaskRow `json:"items"`
	}
	a.Must(http.StatusOK, "alice", "GET", "/v1/tasks?process_kind=kpi&process_id=kpi/"+key, nil).JSON(t, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].ID != "commentary-"+month || inbox.Items[0].Assignee != "alice" {
		t.Fatalf("alice's commentary task: %+v (round opened %d)", inbox.Items, round.Opened)
	}
	a.Must(http.StatusForbidden, "bob", "POST", path+"/commentary", map[string]any{"period": month, "text": "not mine"})
	a.Must(http.StatusCreated, "alice", "POST", path+"/commentary", map[string]any{"period": month, "text": "Vent wear again; CAPA reopened."})
	a.Must(http.StatusOK, "alice", "GET", "/v1/tasks?process_kind=kpi&process_id=kpi/"+key+"&state=done", nil).JSON(t, &inbox)
	if len(inbox.Items) != 1 {
		t.Errorf("the commentary did not close its task: %+v", inbox.Items)
	}

	// The built-in KPIs for the month, as their schedule measures them.
	var builtin workflows.BuiltinOutcome
	run("builtin-"+key, workflows.WorkflowMeasureBuiltinKPIs, "measure_builtin_kpis", workflows.MonthlyInput{Period: month, TimeZone: "UTC"}, &builtin)
	a.Must(http.StatusOK, "carol", "GET", "/v1/kpis/"+opsflow.BuiltinOverdueTasks+"/measurements", nil).JSON(t, &page)
	if !slices.ContainsFunc(page.Items, func(m opsflow.Measurement) bool { return m.ID == opsflow.BuiltinID(month) }) {
		t.Errorf("built-in overdue tasks not measured for %s: %+v", month, page.Items)
	}

	// The report for last month, run by hand: HTML and a PDF whose text
	// holds the KPIs' names, targets and RAG words.
	a.Must(http.StatusForbidden, "alice", "POST", "/v1/reports", map[string]any{"period": month})
	var rep opsflow.Report
	a.Must(http.StatusCreated, "bob", "POST", "/v1/reports", map[string]any{"period": month, "time_zone": "UTC"}).JSON(t, &rep)
	if rep.ID != opsflow.ReportID(month) || len(rep.PDFSHA256) != 64 || rep.PDFBytes == 0 || rep.Content.Counts[opsflow.Red] < 1 {
		t.Fatalf("report %+v", rep)
	}
	statusOf := map[string]opsflow.RAG{}
	for _, k := range rep.Content.KPIs {
		statusOf[k.Key] = k.Status
	}
	if statusOf[key] != opsflow.Red || statusOf[green] != opsflow.Green || statusOf[amber] != opsflow.Amber {
		t.Errorf("statuses %v", statusOf)
	}
	if !slices.Contains(rep.Content.Missing, amber) || slices.Contains(rep.Content.Missing, key) {
		t.Errorf("missing commentary %v: want %s (amber, no line) and not %s (commented)", rep.Content.Missing, amber, key)
	}
	html := a.Must(http.StatusOK, "carol", "GET", "/v1/reports/"+rep.ID+".html", nil)
	if !bytes.Contains(html.Body, []byte("data:image/png;base64,")) || bytes.Contains(html.Body, []byte("http://")) {
		t.Error("the HTML does not embed its charts, or refers outside itself")
	}
	pdf := a.Must(http.StatusOK, "carol", "GET", "/v1/reports/"+rep.ID+".pdf", nil)
	if !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) || pdf.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("not a PDF: %.20q (%s)", pdf.Body, pdf.Header.Get("Content-Type"))
	}
	text := pdfText(t, pdf.Body)
	var open string // the CAPA open now, which the report lists
	for _, c := range a.capasOf(key) {
		if c.State != opsflow.CAPACancelled {
			open = c.ID
		}
	}
	for _, want := range []string{"Scrap rate L4", "On-time delivery", "First-pass yield", "4.25", "95.5", "88.75", "RED", "AMBER", "GREEN",
		"Vent wear again", "Commentary missing", "9.3.2", open} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	// A re-run for the month returns the same report.
	var again opsflow.Report
	a.Must(http.StatusOK, "bob", "POST", "/v1/reports", map[string]any{"period": month, "time_zone": "UTC"}).JSON(t, &again)
	if again.ID != rep.ID || again.PDFSHA256 != rep.PDFSHA256 || again.GeneratedAt != rep.GeneratedAt {
		t.Errorf("re-run made another report: %s %s, was %s %s", again.ID, again.PDFSHA256, rep.ID, rep.PDFSHA256)
	}
	var monthly workflows.ReportRef
	run("report-rerun-"+key, workflows.WorkflowMonthlyReport, "", workflows.MonthlyInput{Period: month, TimeZone: "UTC"}, &monthly)
	if monthly.ID != rep.ID || monthly.Created {
		t.Errorf("the schedule's workflow for the month: %+v", monthly)
	}
	var list struct {
		Items []opsflow.Report `json:"items"`
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/reports", nil).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].PDFSHA256 != rep.PDFSHA256 {
		t.Errorf("reports %+v", list.Items)
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/audit/verify?stream=report/"+rep.ID, nil)
	saveHistory(t, a, "report-"+month, "monthly_report")
}

// pdfText extracts a PDF's text with pdftotext (poppler-utils), with runs
// of white space made one space.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	cmd := exec.Command("pdftotext", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext (apt-get install poppler-utils): %v", err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

// TestKPIMissingMeasurementAndSchedule: a daily KPI whose last value is
// days old gets its owner a task, which the next measurement closes; the
// report schedule is set by an admin and Temporal plans its runs.
func TestKPIMissingMeasurementAndSchedule(t *testing.T) {
	a := newApp(t)
	key := newKPIKey(t)
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "Daily downtime", "unit": "min", "direction": "lower",
		"frequency": "daily", "missing": map[string]any{"enabled": true, "grace_days": 0}})
	old := time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Second)
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"id": "d1", "value": 30, "at": old})
	var inbox struct {
		Items []opsflow.TaskRow `json:"items"`
	}
	a.Eventually("a missing-measurement task for the owner", 30*time.Second, func() bool {
		a.Must(http.StatusOK, "alice", "GET", "/v1/tasks?process_kind=kpi&process_id=kpi/"+key, nil).JSON(t, &inbox)
		return len(inbox.Items) == 1
	})
	if tk := inbox.Items[0]; tk.Kind != "measurement-missing" || tk.Assignee != "alice" || tk.ProcessKind != opsflow.KindKPI {
		t.Errorf("task %+v", tk)
	}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis/"+key+"/measurements", map[string]any{"id": "d2", "value": 25, "at": time.Now().UTC().Add(-time.Hour)})
	a.Eventually("the next measurement closes it", 30*time.Second, func() bool {
		a.Must(http.StatusOK, "alice", "GET", "/v1/tasks?process_kind=kpi&process_id=kpi/"+key, nil).JSON(t, &inbox)
		return len(inbox.Items) == 0
	})

	// Targets from a date, dividers, rules: each a change on the trail.
	path := "/v1/kpis/" + key
	at := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	a.Must(http.StatusOK, "alice", "POST", path+"/targets", map[string]any{"value": 20, "effective_from": at, "reason": "new press"})
	a.Must(http.StatusOK, "alice", "POST", path+"/targets", map[string]any{"value": 20, "effective_from": at}) // the same: a retry
	a.Must(http.StatusConflict, "alice", "POST", path+"/targets", map[string]any{"value": 15, "effective_from": at})
	var v struct {
		Target   struct{ Value float64 }  `json:"target"`
		Dividers []struct{ Label string } `json:"dividers"`
		Rules    map[string]string        `json:"rules"`
	}
	a.Must(http.StatusOK, "alice", "POST", path+"/dividers", map[string]any{"at": at, "label": "new press installed"}).JSON(t, &v)
	if v.Target.Value != 20 || len(v.Dividers) != 1 {
		t.Errorf("after target and divider: %+v", v)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "PATCH", path, map[string]any{"rules": map[string]any{"eight_on_one_side": "loud"}}).Err(t); e.Field != "rules.eight_on_one_side" {
		t.Errorf("bad severity: field %q", e.Field)
	}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "PATCH", path, map[string]any{"policy": map[string]any{"action": "kaizen", "sponsor": "ghost"}}).Err(t); e.Field != "policy.sponsor" {
		t.Errorf("unknown sponsor: field %q", e.Field)
	}
	a.Must(http.StatusOK, "alice", "PATCH", path, map[string]any{"rules": map[string]any{"eight_on_one_side": "violation"}}).JSON(t, &v)
	if v.Rules["eight_on_one_side"] != "violation" || v.Rules["beyond_limits"] != "violation" {
		t.Errorf("rules %v", v.Rules)
	}

	set := map[string]any{"day_of_month": 5, "hour": 7, "minute": 0, "time_zone": "Europe/Berlin", "commentary_days_before": 3,
		"distribution": []string{"exec-team@example.com"}}
	a.Must(http.StatusForbidden, "bob", "PUT", "/v1/admin/report-schedule", set)
	if e := a.Must(http.StatusUnprocessableEntity, "root", "PUT", "/v1/admin/report-schedule", map[string]any{"day_of_month": 5, "time_zone": "Mars/Olympus"}).Err(t); e.Field != "time_zone" {
		t.Errorf("bad zone: field %q", e.Field)
	}
	var sched struct {
		TimeZone       string      `json:"time_zone"`
		NextReport     []time.Time `json:"next_report"`
		NextCommentary []time.Time `json:"next_commentary"`
	}
	a.Must(http.StatusOK, "root", "PUT", "/v1/admin/report-schedule", set).JSON(t, &sched)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	if len(sched.NextReport) == 0 || len(sched.NextCommentary) == 0 {
		t.Fatalf("schedule %+v", sched)
	}
	if r := sched.NextReport[0].In(berlin); r.Day() != 5 || r.Hour() != 7 {
		t.Errorf("next report at %s, want the 5th at 07:00 Berlin", r)
	}
	if c := sched.NextCommentary[0].In(berlin); c.Day() != 2 || c.Hour() != 7 {
		t.Errorf("next commentary round at %s, want the 2nd", c)
	}
	a.Must(http.StatusOK, "carol", "GET", "/v1/admin/report-schedule", nil)
	// Paused again, so a test run never fires a real report.
	set["paused"] = true
	a.Must(http.StatusOK, "root", "PUT", "/v1/admin/report-schedule", set)
}

// TestKPISignalCAPAJudgedOnTheChart: a CAPA opened by a KPI signal cites
// its KPI; when its effectiveness is reviewed, the record says what the
// chart shows over the window — here eight values on the good side of the
// old centre line, a sustained shift — beside the reviewer's judgement.
func TestKPISignalCAPAJudgedOnTheChart(t *testing.T) {
	a := capaApp(t) // a process day is a second: the window passes while the test waits
	key := newKPIKey(t)
	path := "/v1/kpis/" + key
	a.Must(http.StatusCreated, "alice", "POST", "/v1/kpis", map[string]any{"key": key, "name": "Scrap rate L2", "unit": "%", "direction": "lower",
		"baseline": map[string]any{"locked": true, "n": 12}, "policy": map[string]any{"action": "capa"}})
	var it []map[string]any
	for i, v := range append(append([]float64{}, scrapMonths[:12]...), 7.5) {
		it = append(it, map[string]any{"id": fmt.Sprintf("m%02d", i), "value": v, "at": monthsAgo(13 - i)})
	}
	a.Must(http.StatusCreated, "alice", "POST", path+"/measurements", map[string]any{"items": it})
	var id string
	a.Eventually("a CAPA for the special cause", 30*time.Second, func() bool {
		if ps := a.kpi(key).Processes; len(ps) == 1 {
			id = ps[0].ProcessID
			return true
		}
		return false
	})
	a.step(200, "alice", id, "triage", map[string]any{"severity": 3, "occurrence": 3, "detection": 2})
	a.step(200, "bob", id, "decide", map[string]any{"capa_required": true, "rationale": "scrap doubled"})
	c := a.step(200, "alice", id, "add-containment", map[string]any{"actions": []any{map[string]any{"description": "sort the suspect lot", "owner": "dave", "due_days": 5}}})
	a.Must(http.StatusOK, "dave", "POST", "/v1/capas/"+id+"/tasks/"+c.Containment[0].ID+"/complete", nil)
	a.step(200, "alice", id, "verify-containment", map[string]any{"comment": "suspect lot sorted"})
	a.step(200, "alice", id, "record-investigation", map[string]any{"problem": map[string]any{"what": "scrap", "where": "line 2", "when": "last month", "how_many": 40},
		"method": "5_whys", "whys": []any{map[string]any{"question": "why", "answer": "worn vents"}},
		"root_causes":  []any{map[string]any{"statement": "vents worn", "category": "machine", "verified": true, "evidence": "teardown"}},
		"escape_point": "no vent inspection", "extent_review": "lines 1-4 checked"})
	plan := map[string]any{
		"actions":       []any{map[string]any{"kind": "corrective", "description": "replace vents", "owner": "dave", "due_days": 30}},
		"effectiveness": map[string]any{"metric": "scrap rate", "criterion": "a sustained shift below the old centre line", "window_days": 2, "kpi": "no-such-kpi"}}
	if e := a.Must(http.StatusUnprocessableEntity, "alice", "POST", "/v1/capas/"+id+"/propose-plan", plan).Err(t); e.Field != "effectiveness.kpi" {
		t.Errorf("unknown kpi cited: field %q", e.Field)
	}
	plan["effectiveness"].(map[string]any)["kpi"] = key
	r := a.step(200, "alice", id, "propose-plan", plan)
	r = a.step(200, "bob", id, "approve-plan", map[string]any{"approved": true})
	a.toReview(id, r.Actions[0].ID)
	var rec opsflow.CAPA
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id, nil).JSON(t, &rec)
	// The window's values: eight, all below the old centre line (about 4).
	start := *rec.Effectiveness.WindowStart
	it = nil
	for i := range 8 {
		it = append(it, map[string]any{"id": fmt.Sprintf("w%d", i), "value": 3.2, "at": start.Add(time.Duration(i+1) * 100 * time.Millisecond)})
	}
	a.Must(http.StatusCreated, "alice", "POST", path+"/measurements", map[string]any{"items": it})
	a.step(200, "bob", id, "record-effectiveness", map[string]any{"outcome": "effective", "evidence": map[string]any{"text": "chart"},
		"chart": map[string]any{"verdict": "made up by the client", "sentence": "", "before_cl": 0, "before_unpl": 0, "before_lnpl": 0, "before_n": 0,
			"after": 0, "favourable": 0, "unfavourable": 0, "longest_favourable_run": 0, "new_segment": false}})
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id, nil).JSON(t, &rec)
	res := rec.Effectiveness.Results
	if len(res) != 1 || res[0].Chart == nil || res[0].Chart.Verdict != "shifted_favourably" || res[0].Chart.Favourable != 8 || res[0].Chart.BeforeN != 12 {
		t.Fatalf("effectiveness %+v", res)
	}
	found := false
	for _, e := range a.audit(id) {
		found = found || (e.Action == "capa.effectiveness_chart" && e.New == "shifted_favourably" && strings.Contains(e.Reason, key))
	}
	if !found {
		t.Error("no audit event for the chart's verdict")
	}
}
