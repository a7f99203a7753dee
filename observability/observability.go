// Package observability holds what an operator loads into their own
// monitoring: the Grafana dashboard (grafana/opsflow.json), the Prometheus
// alert rules (alerts.yml, with promtool unit tests in alerts_test.yml)
// and the scrape configuration docker-compose.yml mounts
// (prometheus.yml). The Go code reads the dashboard and the rules so tests
// can check that every metric they name is one opsflow really serves: a
// renamed metric would otherwise leave a dashboard panel empty and an
// alert that can never fire.
package observability

import (
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed grafana/opsflow.json alerts.yml
var files embed.FS

// Query is one PromQL expression and where it comes from.
type Query struct {
	Where string // "alerts.yml: OpsflowStalledProcess", "grafana/opsflow.json: Requests per route"
	Expr  string
}

// Queries returns every PromQL expression of the dashboard and the rules.
func Queries() ([]Query, error) {
	rules, err := alertQueries()
	if err != nil {
		return nil, err
	}
	panels, err := dashboardQueries()
	if err != nil {
		return nil, err
	}
	return append(rules, panels...), nil
}

func alertQueries() ([]Query, error) {
	b, err := files.ReadFile("alerts.yml")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("alerts.yml: %w", err)
	}
	var out []Query
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			if r.Expr == "" {
				return nil, fmt.Errorf("alerts.yml: group %s: rule %s%s has no expr", g.Name, r.Alert, r.Record)
			}
			out = append(out, Query{Where: "alerts.yml: " + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("alerts.yml: no rules")
	}
	return out, nil
}

func dashboardQueries() ([]Query, error) {
	b, err := files.ReadFile("grafana/opsflow.json")
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("grafana/opsflow.json: %w", err)
	}
	var out []Query
	var walk func(v any, title string)
	walk = func(v any, title string) {
		switch v := v.(type) {
		case map[string]any:
			if t, ok := v["title"].(string); ok {
				title = t
			}
			if e, ok := v["expr"].(string); ok {
				out = append(out, Query{Where: "grafana/opsflow.json: " + title, Expr: e})
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k], title)
			}
		case []any:
			for _, x := range v {
				walk(x, title)
			}
		}
	}
	walk(doc, "")
	if len(out) == 0 {
		return nil, fmt.Errorf("grafana/opsflow.json: no panel queries")
	}
	return out, nil
}

var (
	stringLit   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	matchers    = regexp.MustCompile(`\{[^{}]*\}`)
	ranges      = regexp.MustCompile(`\[[^\[\]]*\]`)
	labelLists  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	identifiers = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords    = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true,
		"group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true}
)

// MetricNames returns the metric (series) names a PromQL expression
// selects: every identifier that is not a function, a keyword, a label
// name (inside {…} or a by/without/on/ignoring list), a string, a
// duration or a Grafana variable ($__rate_interval).
func MetricNames(expr string) []string {
	s := stringLit.ReplaceAllString(expr, `""`)
	for _, re := range []*regexp.Regexp{matchers, ranges, labelLists} {
		for {
			t := re.ReplaceAllString(s, " ")
			if t == s {
				break
			}
			s = t
		}
	}
	var out []string
	for _, m := range identifiers.FindAllStringIndex(s, -1) {
		name := s[m[0]:m[1]]
		// Part of a number or duration (1e3, 5m), or a Grafana variable.
		if m[0] > 0 && strings.ContainsRune("0123456789.$", rune(s[m[0]-1])) {
			continue
		}
		call := strings.HasPrefix(strings.TrimLeft(s[m[1]:], " \t\n"), "(")
		if call || keywords[name] || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// SeriesNames returns the names of the samples in a Prometheus text
// exposition (histograms contribute name_bucket, name_sum and name_count).
func SeriesNames(exposition string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// Missing is a metric the dashboard or a rule names that is not served.
type Missing struct {
	Where, Metric string
}

// Unserved returns every metric named by the dashboard and the alert rules
// that served (from SeriesNames) lacks.
func Unserved(served map[string]bool) ([]Missing, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	var out []Missing
	for _, q := range qs {
		for _, m := range MetricNames(q.Expr) {
			if !served[m] {
				out = append(out, Missing{Where: q.Where, Metric: m})
			}
		}
	}
	return out, nil
}
