package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow/spc"
)

func month(i int) time.Time {
	return time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i, 0)
}

// yield is a first-pass-yield KPI (higher is better) over two years: a
// year of baseline around 92%, a bad month (85.1%, below LNPL), then a
// Kaizen standardised in July 2025 with a divider, after which the process
// runs around 95% against a target of 95%.
func yield(t *testing.T) spc.Chart {
	t.Helper()
	values := []float64{
		91.8, 92.5, 90.9, 92.1, 93.0, 91.5, 92.2, 90.8, 92.9, 91.9, 92.4, 91.2, // 2024: baseline
		92.0, 85.1, 91.7, 92.6, 93.4, 92.3, // 2025 H1: one bad month
		94.8, 95.6, 94.9, 95.3, 96.1, 95.0, 95.4, 94.7, 95.8, // after the Kaizen
	}
	pts := make([]spc.Point, len(values))
	for i, v := range values {
		pts[i] = spc.Point{At: month(i), Value: v}
	}
	c, err := spc.Compute(pts, spc.Options{
		Baseline: spc.Baseline{N: 12, Locked: true},
		Dividers: []spc.Divider{{At: month(18), Label: "KZ-12 standardised", Baseline: spc.Baseline{N: 6, Locked: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func target(v float64) *float64 { return &v }

func render(t *testing.T, f Format, c spc.Chart, o Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, f, c, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png does not decode: %v", err)
	}
	return img
}

// count returns how many pixels are within tol of c on each channel.
func count(img image.Image, c color.RGBA, tol int) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-int(c.R)) <= tol && abs(int(g>>8)-int(c.G)) <= tol && abs(int(bl>>8)-int(c.B)) <= tol {
				n++
			}
		}
	}
	return n
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

func distinct(img image.Image) int {
	seen := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			seen[img.At(x, y)] = true
		}
	}
	return len(seen)
}

func TestRenderPNGSizes(t *testing.T) {
	c := yield(t)
	cases := []struct {
		name string
		opts Options
		w, h int
	}{
		{name: "default", opts: Options{Title: "First-pass yield"}, w: 800, h: 400},
		{name: "with mR panel", opts: Options{Title: "First-pass yield", MovingRange: true}, w: 800, h: 560},
		{name: "custom", opts: Options{Width: 600, Height: 300}, w: 600, h: 300},
		{name: "custom with mR", opts: Options{Width: 1200, Height: 900, MovingRange: true}, w: 1200, h: 900},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := decodePNG(t, render(t, PNG, c, tc.opts))
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Errorf("size %v, want %d×%d", b, tc.w, tc.h)
			}
			if n := distinct(img); n < 20 {
				t.Errorf("only %d distinct colours: the image looks blank", n)
			}
		})
	}
}

// TestSignalColours is the golden-ish check: the bad month (a violation)
// puts red pixels on the image; the same data with rule 1 ignored puts none,
// and a warning puts amber ones instead.
func TestSignalColours(t *testing.T) {
	c := yield(t)
	red := count(decodePNG(t, render(t, PNG, c, Options{})), colViolation, 20)
	if red < 20 {
		t.Errorf("%d red pixels for a violation, want a marker's worth", red)
	}

	quiet := withSeverity(c, spc.Ignore)
	if n := count(decodePNG(t, render(t, PNG, quiet, Options{})), colViolation, 20); n != 0 {
		t.Errorf("%d red pixels without signals", n)
	}
	if n := count(decodePNG(t, render(t, PNG, quiet, Options{})), colWarning, 20); n != 0 {
		t.Errorf("%d amber pixels without signals", n)
	}

	warn := withSeverity(c, spc.Warning)
	img := decodePNG(t, render(t, PNG, warn, Options{}))
	if n := count(img, colViolation, 20); n != 0 {
		t.Errorf("%d red pixels with only warnings", n)
	}
	if n := count(img, colWarning, 20); n < 20 {
		t.Errorf("%d amber pixels for warnings", n)
	}
}

// withSeverity returns c with every signal set to sev (Ignore drops them),
// as a KPI configured that way would get them from spc.Compute.
func withSeverity(c spc.Chart, sev spc.Severity) spc.Chart {
	out := c
	out.Signals = nil
	if sev == spc.Ignore {
		return out
	}
	for _, s := range c.Signals {
		s.Severity = sev
		out.Signals = append(out.Signals, s)
	}
	return out
}

func TestRenderSVG(t *testing.T) {
	c := yield(t)
	title := `First-pass yield & <scrap> "line 3"`
	for _, opts := range []Options{
		{Title: title, Unit: "%", Target: target(95), Direction: spc.HigherIsBetter},
		{Title: title, MovingRange: true},
		{Title: title, EmbedFonts: true},
	} {
		b := render(t, SVG, c, opts)
		texts, root := parseSVG(t, b)
		if root != "svg" {
			t.Errorf("root element %q", root)
		}
		if !slicesContains(texts, title) {
			t.Errorf("no <text> holds the title %q; texts: %q", title, texts)
		}
		if fallback := strings.Contains(string(b), "font-family:Liberation Sans,Arial,Helvetica,sans-serif;"); fallback == opts.EmbedFonts {
			t.Errorf("embed %v: font fallback present = %v", opts.EmbedFonts, fallback)
		}
		if opts.Target != nil && !slicesContains(texts, " target 95") {
			t.Errorf("no target label in %q", texts)
		}
		if !strings.Contains(string(b), `width="600pt" height="300pt"`) && !strings.Contains(string(b), `width="600pt" height="420pt"`) {
			t.Errorf("svg size: %s", b[:min(300, len(b))])
		}
	}
}

// parseSVG checks the SVG is well-formed XML and returns the character data
// of its <text> elements and the name of its root element.
func parseSVG(t *testing.T, b []byte) (texts []string, root string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	inText := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			if tok.Name.Local == "text" {
				inText++
				texts = append(texts, "")
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				inText--
			}
		case xml.CharData:
			if inText > 0 {
				texts[len(texts)-1] += string(tok)
			}
		}
	}
	return texts, root
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestRenderEdgeCases(t *testing.T) {
	one, err := spc.Compute([]spc.Point{{At: month(0), Value: 3}}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	flat, err := spc.Compute([]spc.Point{{At: month(0), Value: 3}, {At: month(1), Value: 3}, {At: month(2), Value: 3}}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sameDay, err := spc.Compute([]spc.Point{{At: month(0), Value: 1}, {At: month(0).Add(time.Hour), Value: 2}, {At: month(0).Add(2 * time.Hour), Value: 4}}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := spc.Compute(nil, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]spc.Chart{"no points": empty, "one point": one, "flat": flat, "hours apart": sameDay} {
		for _, f := range []Format{PNG, SVG} {
			for _, mr := range []bool{false, true} {
				var buf bytes.Buffer
				if err := Render(&buf, f, c, Options{Title: name, MovingRange: mr, Target: target(2)}); err != nil {
					t.Errorf("%s %s mR=%v: %v", name, f, mr, err)
				}
				if buf.Len() == 0 {
					t.Errorf("%s %s: empty output", name, f)
				}
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	c := yield(t)
	broken := c
	broken.Segments = append([]spc.Segment{}, c.Segments...)
	broken.Segments[1].Last = len(c.Points) + 3
	badSignal := c
	badSignal.Signals = []spc.Signal{{Index: -1}}
	nan := c
	nan.Points = append([]spc.ChartPoint{}, c.Points...)
	nan.Points[3].Value = math.NaN()
	noSegments := c
	noSegments.Segments = nil
	cases := []struct {
		name string
		f    Format
		c    spc.Chart
		o    Options
	}{
		{name: "format", f: "gif", c: c},
		{name: "too small", f: PNG, c: c, o: Options{Width: 100}},
		{name: "too large", f: PNG, c: c, o: Options{Height: 5000}},
		{name: "negative", f: SVG, c: c, o: Options{Width: -800}},
		{name: "segment beyond the points", f: PNG, c: broken},
		{name: "signal beyond the points", f: SVG, c: badSignal},
		{name: "NaN value", f: PNG, c: nan},
		{name: "points without segments", f: PNG, c: noSegments},
		{name: "NaN target", f: SVG, c: c, o: Options{Target: target(math.NaN())}},
	}
	for _, tc := range cases {
		if err := Render(io.Discard, tc.f, tc.c, tc.o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRenderWriteError(t *testing.T) {
	for _, f := range []Format{PNG, SVG} {
		err := Render(failWriter{}, f, yield(t), Options{})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%s: err = %v, want the writer's error wrapped", f, err)
		}
	}
}

// TestRenderConcurrently: the API renders charts for many requests at once;
// run with -race.
func TestRenderConcurrently(t *testing.T) {
	c := yield(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := PNG
			if i%2 == 1 {
				f = SVG
			}
			if err := Render(io.Discard, f, c, Options{Title: "yield", MovingRange: i < 2}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

func TestContentType(t *testing.T) {
	if PNG.ContentType() != "image/png" || SVG.ContentType() != "image/svg+xml" {
		t.Error("content types")
	}
}

// TestWriteExamples writes the example charts to $CHART_EXAMPLES (a
// directory) so a person can look at them; it does nothing otherwise.
//
//	CHART_EXAMPLES=/tmp/charts go test ./chart -run WriteExamples
func TestWriteExamples(t *testing.T) {
	dir := os.Getenv("CHART_EXAMPLES")
	if dir == "" {
		t.Skip("set CHART_EXAMPLES to a directory to write example charts")
	}
	c := yield(t)
	opts := Options{Title: "First-pass yield, line 3", Unit: "%", Target: target(95), Direction: spc.HigherIsBetter}
	mr := opts
	mr.MovingRange = true
	for name, o := range map[string]Options{"yield": opts, "yield-mr": mr} {
		for _, f := range []Format{PNG, SVG} {
			if err := os.WriteFile(filepath.Join(dir, name+"."+string(f)), render(t, f, c, o), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, ch := range map[string]spc.Chart{"daily": daily(t), "short": short(t)} {
		o := Options{Title: name, Unit: "minutes", Direction: spc.LowerIsBetter, MovingRange: true}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), render(t, PNG, ch, o), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// daily is a dense lower-is-better series: 400 days of a lead time with a
// slow drift up and a step down after a divider.
func daily(t *testing.T) spc.Chart {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, time.March, 3, 0, 0, 0, 0, time.UTC)
	var pts []spc.Point
	for i := range 400 {
		v := 30 + r.NormFloat64()*2 + float64(i)/60
		if i >= 250 {
			v -= 8
		}
		pts = append(pts, spc.Point{At: start.AddDate(0, 0, i), Value: v})
	}
	c, err := spc.Compute(pts, spc.Options{
		Baseline: spc.Baseline{N: 60, Locked: true},
		Dividers: []spc.Divider{{At: start.AddDate(0, 0, 250), Label: "pull system", Baseline: spc.Baseline{N: 30, Locked: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// short is a new KPI: four weekly values, so its limits are provisional.
func short(t *testing.T) spc.Chart {
	t.Helper()
	start := time.Date(2026, time.October, 5, 0, 0, 0, 0, time.UTC)
	c, err := spc.Compute([]spc.Point{
		{At: start, Value: 12}, {At: start.AddDate(0, 0, 7), Value: 14},
		{At: start.AddDate(0, 0, 14), Value: 11}, {At: start.AddDate(0, 0, 21), Value: 13},
	}, spc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
