package observability

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`max by (task_queue, type) (opsflow_task_queue_pollers) == 0`, []string{"opsflow_task_queue_pollers"}},
		{`sum(rate(opsflow_http_request_duration_seconds_count{status_class="5xx", route=~"/v1/.*"}[5m])) / sum(rate(opsflow_http_request_duration_seconds_count[$__rate_interval]))`,
			[]string{"opsflow_http_request_duration_seconds_count"}},
		{`histogram_quantile(0.99, sum by (le, route) (rate(x_bucket[5m] offset 1h)))`, []string{"x_bucket"}},
		{`a > 1800 and on () max(b) == 1 or ignoring(instance) c unless d`, []string{"a", "b", "c", "d"}},
		{`absent(opsflow_task_queue_pollers)`, []string{"opsflow_task_queue_pollers"}},
		{`label_replace(m, "dst", "$1", "src", "(.*)") * on (kind) group_left(name) info`, []string{"m", "info"}},
		{`sum without (instance) (rate(process_cpu_seconds_total[1m])) > bool 0.5`, []string{"process_cpu_seconds_total"}},
	} {
		if got := MetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("MetricNames(%q) = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestSeriesNames(t *testing.T) {
	got := SeriesNames("# HELP a x\n# TYPE a histogram\na_bucket{le=\"1\"} 1\na_count 1\nb 2\n")
	if !got["a_bucket"] || !got["a_count"] || !got["b"] || got["a"] || len(got) != 3 {
		t.Fatalf("SeriesNames = %v", got)
	}
}

// TestUnservedNamesMissing: the check the telemetry tests rely on reports
// a metric the dashboard names when it is not served.
func TestUnservedNamesMissing(t *testing.T) {
	missing, err := Unserved(map[string]bool{})
	if err != nil {
		t.Fatal(err)
	}
	var stalled bool
	for _, m := range missing {
		stalled = stalled || (m.Metric == "opsflow_processes_stalled" && strings.HasPrefix(m.Where, "alerts.yml: OpsflowProcessStalled"))
	}
	if !stalled {
		t.Fatalf("Unserved(nothing served) does not name opsflow_processes_stalled for OpsflowProcessStalled: %v", missing)
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool (Prometheus's rule checker) is not installed: apt-get install prometheus (Debian/Ubuntu), or get it from a Prometheus release: %v", err)
	}
	return p
}

// TestAlertRules: the rules load in Prometheus's own checker and every
// alert fires (and stays quiet) as alerts_test.yml says.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDashboard: the dashboard is a Grafana dashboard whose panels each
// query the chosen Prometheus, fit the 24-column grid, have unique IDs,
// and whose every query is valid PromQL (checked by promtool as recording
// rules, with Grafana's $__rate_interval as 5m).
func TestDashboard(t *testing.T) {
	b, err := files.ReadFile("grafana/opsflow.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string `json:"uid"`
		Title      string `json:"title"`
		Templating struct {
			List []struct {
				Name, Type, Query string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type, UID string
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" || len(d.Templating.List) != 1 || d.Templating.List[0].Type != "datasource" {
		t.Fatalf("dashboard uid %q title %q templating %+v", d.UID, d.Title, d.Templating.List)
	}
	ids := map[int]bool{}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X < 0 || p.GridPos.W < 1 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, q := range p.Targets {
			expr := strings.ReplaceAll(q.Expr, "$__rate_interval", "5m")
			fmt.Fprintf(&rules, "      - record: panel_%d_%d\n        expr: %q\n", p.ID, i, expr)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
}
