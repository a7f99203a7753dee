package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// example is a month with ten KPIs (red, amber, green and no data), owners'
// commentary on some, and open CAPAs and Kaizens: about as full as an
// executive's page gets.
func example(t *testing.T) Input {
	t.Helper()
	p, err := opsflow.ParsePeriod("2026-10", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Period: p, Measurements: map[string][]opsflow.Measurement{}, Commentary: map[string]string{},
		Links: map[string][]opsflow.KPILink{}, CommentaryDue: true, Now: time.Date(2026, 11, 5, 7, 0, 0, 0, time.UTC)}
	for i := range 10 {
		dir, base, target := opsflow.LowerIsBetter, 4.0, 4.25
		if i%2 == 1 {
			dir, base, target = opsflow.HigherIsBetter, 95.0, 94.5
		}
		key := fmt.Sprintf("kpi-%d", i)
		d := opsflow.KPIDefinition{KPI: opsflow.KPI{Key: key, Name: fmt.Sprintf("KPI number %d", i), Unit: "%", Direction: dir, OwnerID: "alice"},
			Spec: opsflow.DefaultKPISpec().Normalise(), Targets: []opsflow.KPITarget{{Value: target, EffectiveFrom: p.From.AddDate(-2, 0, 0)}}}
		var ms []opsflow.Measurement
		for m := range 24 {
			v := base + []float64{0.1, -0.2, 0.3, 0, -0.1, 0.2}[m%6]
			if m == 23 && i < 2 {
				v = base * 1.8 // a special cause: red for the lower-is-better one
				if dir == opsflow.HigherIsBetter {
					v = base * 0.5
				}
			}
			ms = append(ms, opsflow.Measurement{ID: fmt.Sprintf("%s-%d", key, m), At: p.From.AddDate(0, m-23, 0), Value: v})
		}
		if i == 9 {
			ms = ms[:20] // nothing this month
		}
		in.KPIs = append(in.KPIs, d)
		in.Measurements[key] = ms
	}
	in.Commentary["kpi-0"] = "Vents clogged after the mould change; CAPA open."
	rec, _ := json.Marshal(opsflow.CAPA{ID: "capa-0a1b2c3d4e5f60718293", State: opsflow.CAPAInvestigation})
	due := p.To.AddDate(0, 0, 10)
	in.Processes = []opsflow.Process{{ID: "capa-0a1b2c3d4e5f60718293", Kind: opsflow.KindCAPA, State: "investigation", Title: "KPI signal: KPI number 0",
		OwnerID: "alice", OpenedAt: p.From.AddDate(0, 0, 3), DueAt: &due, Record: rec}}
	in.Links["kpi-0"] = []opsflow.KPILink{{ProcessID: "capa-0a1b2c3d4e5f60718293", Kind: opsflow.KindCAPA}}
	return in
}

func TestBuildAndHTML(t *testing.T) {
	pg, err := Build(example(t))
	if err != nil {
		t.Fatal(err)
	}
	c := pg.Content
	if len(c.KPIs) != 10 || c.KPIs[0].Status != opsflow.Red || c.KPIs[9].Status != opsflow.NoData {
		t.Fatalf("order/status: %+v", c.KPIs)
	}
	if c.Counts[opsflow.Red] != 2 || c.Counts[opsflow.NoData] != 1 {
		t.Errorf("counts %v", c.Counts)
	}
	if len(c.Missing) != 1 || c.Missing[0] != "kpi-1" {
		t.Errorf("missing commentary %v: kpi-0 commented, kpi-1 red without a line", c.Missing)
	}
	if len(c.Open) != 1 || c.Open[0].KPI != "kpi-0" || c.Open[0].CarriedForward || c.Review.CAPAOpen != 1 || c.Review.CAPAOpenedInPeriod != 1 {
		t.Errorf("open %+v, review %+v", c.Open, c.Review)
	}
	html, err := HTML(pg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Monthly KPI report — October 2026", "RED", "AMBER", "GREEN", "NO DATA", "4.25", "94.5",
		"Vents clogged", "Commentary missing", "data:image/png;base64,", "9.3.2"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("the HTML lacks %q", want)
		}
	}
	if bytes.Contains(html, []byte("src=\"http")) || bytes.Contains(html, []byte("href=\"http")) {
		t.Error("the HTML refers outside itself")
	}
}

// TestPDFIsOnePage prints the example with headless Chromium (Debian:
// apt-get install chromium poppler-utils; .ci/run installs both) and
// checks it is one page that pdftotext reads back. REPORT_EXAMPLE=dir
// keeps the HTML and PDF to look at.
func TestPDFIsOnePage(t *testing.T) {
	pg, err := Build(example(t))
	if err != nil {
		t.Fatal(err)
	}
	html, err := HTML(pg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pdf, err := PDF(ctx, html)
	if err != nil {
		t.Fatalf("%v (is chromium installed?)", err)
	}
	if dir := os.Getenv("REPORT_EXAMPLE"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "report.html"), html, 0o644)
		_ = os.WriteFile(filepath.Join(dir, "report.pdf"), pdf, 0o644)
	}
	info := exec.Command("pdfinfo", "-")
	info.Stdin = bytes.NewReader(pdf)
	out, err := info.Output()
	if err != nil {
		t.Fatalf("pdfinfo (apt-get install poppler-utils): %v", err)
	}
	if !strings.Contains(strings.Join(strings.Fields(string(out)), " "), "Pages: 1") {
		t.Errorf("not one page:\n%s", out)
	}
}
