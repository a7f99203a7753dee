package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// HTML renders a report as one self-contained page: styles inline, charts
// as data: URIs, sized for one landscape A4 sheet when printed.
func HTML(pg Page) ([]byte, error) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pg); err != nil {
		return nil, fmt.Errorf("report: render html: %w", err)
	}
	return buf.Bytes(), nil
}

// num prints a figure the way people write it: at most two decimals, no
// trailing zeros, no exponent.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	r := math.Round(v*100) / 100
	if r == 0 {
		r = 0 // no "-0"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

var funcs = template.FuncMap{
	"num":   num,
	"count": func(m map[opsflow.RAG]int, k string) int { return m[opsflow.RAG(k)] },
	"pnum": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return num(*v)
	},
	"signed": func(v *float64) string {
		if v == nil {
			return "—"
		}
		if *v > 0 {
			return "+" + num(*v)
		}
		return num(*v)
	},
	"word": func(r opsflow.RAG) string {
		if r == opsflow.NoData {
			return "NO DATA"
		}
		return strings.ToUpper(string(r))
	},
	"chart": func(png []byte) template.URL {
		// Base64 PNG bytes only: safe as a URL.
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
	"date": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"ts":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"join": strings.Join,
	"arrow": func(d opsflow.Direction) string {
		if d == opsflow.LowerIsBetter {
			return "lower is better"
		}
		return "higher is better"
	},
	"pct": func(a, b int) string {
		if b == 0 {
			return "—"
		}
		return num(float64(a)/float64(b)*100) + " %"
	},
}

var pageTemplate = template.Must(template.New("report").Funcs(funcs).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Content.Title}}</title>
<style>
@page { size: A4 landscape; margin: 8mm; }
* { box-sizing: border-box; }
body { font-family: "Liberation Sans", Arial, Helvetica, sans-serif; font-size: 8pt; color: #222; margin: 0; line-height: 1.15; }
h1 { font-size: 13pt; margin: 0 0 1pt 0; }
h2 { font-size: 9pt; margin: 4pt 0 2pt 0; border-bottom: 1px solid #999; }
.meta { color: #555; margin-bottom: 4pt; }
.counts span { display: inline-block; padding: 1pt 6pt; margin-right: 4pt; border-radius: 3pt; font-weight: bold; color: #fff; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: middle; padding: 0.5pt 3pt; border-bottom: 1px solid #ddd; }
th { font-size: 7.5pt; color: #555; }
td.n { text-align: right; white-space: nowrap; }
.rag { font-weight: bold; text-align: center; color: #fff; border-radius: 3pt; padding: 1pt 3pt; white-space: nowrap; }
.red { background: #c62828; } .amber { background: #ef8f00; } .green { background: #2e7d32; } .no_data { background: #888; }
img.chart { width: 94pt; height: 36pt; display: block; }
.why { font-size: 6.5pt; color: #555; }
.missing { color: #c62828; font-weight: bold; }
.cols { display: flex; gap: 10pt; }
.cols > div { flex: 1; }
.review td { border: none; padding: 0.5pt 3pt; }
.review td:first-child { font-weight: bold; white-space: nowrap; }
.foot { font-size: 6.5pt; color: #777; margin-top: 4pt; }
td.id { white-space: nowrap; font-size: 7pt; }
</style></head>
<body>
<h1>{{.Content.Title}}</h1>
<div class="meta">Period {{.Content.Period.Month}} ({{.TimeZone}}) · generated {{ts .GeneratedAt}} ·
<span class="counts"><span class="red">RED {{count .Content.Counts "red"}}</span><span class="amber">AMBER {{count .Content.Counts "amber"}}</span><span class="green">GREEN {{count .Content.Counts "green"}}</span></span>
{{if .Content.Missing}}<span class="missing">Commentary missing: {{join .Content.Missing ", "}}</span>{{end}}</div>

<h2>KPIs: actual vs target</h2>
<table>
<tr><th>Status</th><th>KPI</th><th>Owner</th><th class="n">Actual</th><th class="n">Target</th><th class="n">Variance</th><th>12 months</th><th>Why · owner's commentary</th></tr>
{{range .Content.KPIs}}
<tr>
<td><div class="rag {{.Status}}">{{word .Status}}</div></td>
<td><b>{{.Name}}</b><div class="why">{{.Unit}}, {{arrow .Direction}}{{if .Open}} · {{.Open}} open process(es){{end}}</div></td>
<td>{{.Owner}}</td>
<td class="n">{{pnum .Actual}}</td>
<td class="n">{{pnum .Target}}</td>
<td class="n">{{signed .Variance}}{{if .VariancePct}}<div class="why">{{signed .VariancePct}} %</div>{{end}}</td>
<td>{{with index $.Charts .Key}}<img class="chart" alt="chart" src="{{chart .}}">{{end}}</td>
<td><div class="why">{{join .Reasons "; "}}</div>
{{if .Commentary}}<div>“{{.Commentary}}”</div>{{else if .CommentaryMissing}}<div class="missing">Commentary missing</div>{{end}}</td>
</tr>
{{end}}
</table>

<div class="cols">
<div>
<h2>Open CAPAs and Kaizens</h2>
<table>
<tr><th>ID</th><th>Title</th><th>Owner</th><th>Due</th><th>State</th><th></th></tr>
{{range .Content.Open}}
<tr><td class="id">{{.ID}}</td><td>{{.Title}}{{if .KPI}} <span class="why">(KPI {{.KPI}})</span>{{end}}</td><td>{{.Owner}}</td><td class="id">{{date .DueAt}}</td><td>{{.State}}</td>
<td class="why">{{if .Overdue}}<span class="missing">overdue</span> {{end}}{{if .CarriedForward}}carried forward{{end}}</td></tr>
{{else}}<tr><td colspan="6">None open.</td></tr>
{{end}}
</table>
</div>
<div>
<h2>Management review inputs (ISO 9001 §9.3.2)</h2>
{{with .Content.Review}}
<table class="review">
<tr><td>CAPAs</td><td><b>{{.CAPAOpen}}</b> open now ({{.CAPAOverdue}} overdue); {{.CAPAOpenedInPeriod}} opened and {{.CAPAClosedInPeriod}} closed in the month</td></tr>
<tr><td>CAPA effectiveness</td><td>{{.CAPAEffective}} effective, {{.CAPAIneffective}} ineffective reviews in the month</td></tr>
<tr><td>Improvement</td><td>{{.KaizenOpen}} Kaizen initiatives open; {{.KaizenClosedInPeriod}} closed in the month, realised hard savings {{num .ImpactActual}}</td></tr>
<tr><td>Onboarding</td><td>{{.OnboardingsStarted}} started in the month, {{.OnboardingsDay1Ready}} day-1 ready ({{pct .OnboardingsDay1Ready .OnboardingsStarted}}); {{.OnboardingsCompleted}} completed, {{.OnboardingsActive}} active</td></tr>
</table>
{{end}}
</div>
</div>
<div class="foot">{{.Content.Footnote}}</div>
</body></html>
`))
