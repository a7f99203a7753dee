// Package report makes the monthly executive report: one page that says,
// per KPI, the month's actual against its target, the variance, a RAG
// status read from the XmR chart and the distance to target, a 12-month
// chart, and the owner's line for every red or amber; then the open CAPAs
// and Kaizens, and the ISO 9001 §9.3.2 management-review inputs. Build
// composes it from the store's data (a pure function), HTML renders it
// with its charts embedded as data: URIs (no file or network reference,
// so the page reads the same in a mail client, a browser and a printer),
// and PDF prints that same HTML with headless Chromium.
package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/chart"
	"github.com/opsflow/opsflow/kpichart"
)

// Input is what a month's report is made from.
type Input struct {
	Period opsflow.Period
	// KPIs and their measurements (up to the period's end) by key.
	KPIs         []opsflow.KPIDefinition
	Measurements map[string][]opsflow.Measurement
	// Commentary by KPI key; CommentaryDue says owners were asked (the
	// schedule opened commentary tasks), so a missing line is reported.
	Commentary    map[string]string
	CommentaryDue bool
	// Links are the processes each KPI's signals opened, by key.
	Links map[string][]opsflow.KPILink
	// Processes active at some time in the period, or open now, of every
	// kind.
	Processes []opsflow.Process
	Now       time.Time
}

// ChartMonths is the window of the report's charts.
const ChartMonths = 12

// Page is a built report: its content and the chart of each KPI (PNG).
type Page struct {
	Content opsflow.ReportContent
	Charts  map[string][]byte
	// GeneratedAt and TimeZone are printed on the page.
	GeneratedAt time.Time
	TimeZone    string
}

var rank = map[opsflow.RAG]int{opsflow.Red: 0, opsflow.Amber: 1, opsflow.Green: 2, opsflow.NoData: 3}

// Build composes a month's report. KPIs without a value in the 12 months
// up to the period's end are left out (a KPI nobody measures is not news);
// the rest are ordered red, amber, green, no data, then by name.
func Build(in Input) (Page, error) {
	p := in.Period
	pg := Page{Charts: map[string][]byte{}, GeneratedAt: in.Now.UTC(), TimeZone: p.From.Location().String()}
	c := &pg.Content
	c.Period = p
	c.Title = "Monthly KPI report — " + p.From.Format("January 2006")
	c.KPIs, c.Missing, c.Open = []opsflow.ReportKPI{}, []string{}, []opsflow.ReportProcess{}
	c.Counts = map[opsflow.RAG]int{opsflow.Green: 0, opsflow.Amber: 0, opsflow.Red: 0, opsflow.NoData: 0}
	windowFrom := p.Months(ChartMonths)[0].From
	linked := map[string]string{} // process → KPI
	for _, d := range in.KPIs {
		ms := in.Measurements[d.Key]
		recent := slices.ContainsFunc(ms, func(m opsflow.Measurement) bool { return !m.At.Before(windowFrom) && m.At.Before(p.To) })
		if !recent {
			continue
		}
		ch, err := kpichart.Build(d, ms)
		if err != nil {
			return pg, err
		}
		st := kpichart.PeriodStatus(d, ch, p.From, p.To)
		row := opsflow.ReportKPI{Key: d.Key, Name: d.Name, Owner: d.OwnerID, Unit: d.Unit, Direction: d.Direction, KPIStatus: st}
		for _, l := range in.Links[d.Key] {
			linked[l.ProcessID] = d.Key
			if l.ClosedAt == nil {
				row.Open++
			}
		}
		if row.NeedsCommentary() {
			row.Commentary = in.Commentary[d.Key]
			if row.Commentary == "" && in.CommentaryDue {
				row.CommentaryMissing = true
				c.Missing = append(c.Missing, d.Key)
			}
		}
		var png bytes.Buffer
		if err := kpichart.Render(&png, chart.PNG, d, kpichart.Crop(ch, windowFrom),
			kpichart.RenderOptions{Width: 520, Height: 200, Title: " ", Location: p.From.Location()}, p.To); err != nil {
			return pg, err
		}
		pg.Charts[d.Key] = png.Bytes()
		c.KPIs = append(c.KPIs, row)
		c.Counts[st.Status]++
	}
	sort.SliceStable(c.KPIs, func(i, j int) bool {
		a, b := c.KPIs[i], c.KPIs[j]
		if rank[a.Status] != rank[b.Status] {
			return rank[a.Status] < rank[b.Status]
		}
		return a.Name < b.Name
	})
	if err := review(in, c, linked); err != nil {
		return pg, err
	}
	c.Footnote = fmt.Sprintf("Status is read from each KPI's XmR chart (Wheeler: limits X̄ ± 2.66·mR̄) and its distance to target, not from month-on-month change: "+
		"red = an unfavourable violation or worse than the red threshold; amber = an unfavourable warning, worse than the amber threshold, or (without one) short of target. "+
		"Charts show %d months. Actual = mean of the month's values; variance = actual − target.", ChartMonths)
	return pg, nil
}

// review fills the open processes and the management-review inputs.
func review(in Input, c *opsflow.ReportContent, linked map[string]string) error {
	p := in.Period
	r := &c.Review
	for _, row := range in.Processes {
		// Open now, at the report's making: what executives act on is
		// what is open, including what a late signal opened since.
		openNow := row.ClosedAt == nil
		closedIn := row.ClosedAt != nil && p.Contains(*row.ClosedAt)
		switch row.Kind {
		case opsflow.KindCAPA:
			var rec opsflow.CAPA
			if err := json.Unmarshal(row.Record, &rec); err != nil {
				return fmt.Errorf("report: capa %s: %w", row.ID, err)
			}
			if p.Contains(row.OpenedAt) {
				r.CAPAOpenedInPeriod++
			}
			if closedIn && row.State != string(opsflow.CAPACancelled) {
				r.CAPAClosedInPeriod++
			}
			results := []opsflow.EffectivenessResult{}
			if rec.Effectiveness != nil {
				results = append(results, rec.Effectiveness.Results...)
			}
			for _, cy := range rec.Cycles {
				results = append(results, cy.Result)
			}
			for _, res := range results {
				if p.Contains(res.At) && res.Outcome == opsflow.OutcomeEffective {
					r.CAPAEffective++
				}
				if p.Contains(res.At) && res.Outcome == opsflow.OutcomeIneffective {
					r.CAPAIneffective++
				}
			}
			if openNow {
				r.CAPAOpen++
				pr := openProcess(row, p, linked)
				if pr.Overdue {
					r.CAPAOverdue++
				}
				c.Open = append(c.Open, pr)
			}
		case opsflow.KindKaizen:
			var rec opsflow.Kaizen
			if err := json.Unmarshal(row.Record, &rec); err != nil {
				return fmt.Errorf("report: kaizen %s: %w", row.ID, err)
			}
			if closedIn && rec.Phase == opsflow.KaizenClosed {
				r.KaizenClosedInPeriod++
				for _, e := range rec.Impact {
					if e.Category == opsflow.ImpactHardSavings && e.Actual != nil {
						r.ImpactActual += *e.Actual
					}
				}
			}
			if openNow {
				r.KaizenOpen++
				c.Open = append(c.Open, openProcess(row, p, linked))
			}
		case opsflow.KindOnboarding:
			var rec opsflow.Onboarding
			if err := json.Unmarshal(row.Record, &rec); err != nil {
				return fmt.Errorf("report: onboarding %s: %w", row.ID, err)
			}
			if rec.State != opsflow.OnboardingCancelled && p.Contains(rec.Placement.StartAt) {
				r.OnboardingsStarted++
				if rec.Day1Ready {
					r.OnboardingsDay1Ready++
				}
			}
			if closedIn && rec.State == opsflow.OnboardingCompleted {
				r.OnboardingsCompleted++
			}
			if openNow {
				r.OnboardingsActive++
			}
		}
	}
	r.ImpactActual = opsflow.Round4(r.ImpactActual)
	// Overdue first, then by due date (none last), then ID: what needs a
	// decision leads.
	sort.SliceStable(c.Open, func(i, j int) bool {
		a, b := c.Open[i], c.Open[j]
		if a.Overdue != b.Overdue {
			return a.Overdue
		}
		switch {
		case a.DueAt != nil && b.DueAt != nil && !a.DueAt.Equal(*b.DueAt):
			return a.DueAt.Before(*b.DueAt)
		case (a.DueAt == nil) != (b.DueAt == nil):
			return a.DueAt != nil
		}
		return a.ID < b.ID
	})
	return nil
}

func openProcess(row opsflow.Process, p opsflow.Period, linked map[string]string) opsflow.ReportProcess {
	return opsflow.ReportProcess{ID: row.ID, Kind: row.Kind, Title: row.Title, Owner: row.OwnerID, State: row.State,
		DueAt: row.DueAt, OpenedAt: row.OpenedAt, CarriedForward: row.OpenedAt.Before(p.From),
		Overdue: row.DueAt != nil && row.DueAt.Before(p.To), KPI: linked[row.ID]}
}
