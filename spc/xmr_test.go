package spc

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// month returns the first of the i-th month from January 2024: KPIs are
// monthly, and whole months make the time-based cases easy to read.
func month(i int) time.Time {
	return time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i, 0)
}

// series turns values into monthly points with IDs m0, m1, …
func series(values ...float64) []Point {
	pts := make([]Point, len(values))
	for i, v := range values {
		pts[i] = Point{At: month(i), Value: v, ID: "m" + strconv.Itoa(i)}
	}
	return pts
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestComputeLimitsPublished pins the limit arithmetic to published worked
// examples. CL and mR̄ do not depend on the scaling factors, so they must
// match to the published rounding. The published UCL/LCL use 3/d2 with
// d2 = 1.128 (NIST) or 1.128379 (SAS) instead of Wheeler's 2.66, so ours may
// differ from theirs by |2.66 − 3/d2|·mR̄ ≤ 0.0014·mR̄ plus half a unit in
// the last printed digit; the exact values we expect are worked out with
// 2.66 and 3.268 in each case's comment.
func TestComputeLimitsPublished(t *testing.T) {
	cases := []struct {
		name   string
		values []float64
		// Published figures and the rounding they are printed with.
		pubCL, pubMRBar, pubUCL, pubLCL, digits float64
		// Ours, with Wheeler's factors.
		cl, mrBar, unpl, lnpl, url float64
	}{
		{
			// NIST/SEMATECH e-Handbook of Statistical Methods, §6.3.2.2
			// "Individuals Control Charts" (pmc322.htm): ten batches of flow
			// rate. Published: x̄ = 50.81, MR̄ = 1.8778, UCL = 55.8041,
			// LCL = 45.8159 (3/1.128), MR UCL = 3.267·1.8778 = 6.1347.
			// Ours: mR̄ = 16.9/9 = 1.877…; UNPL = 50.81 + 2.66·1.87778 =
			// 55.80489; LNPL = 45.81511; URL = 3.268·1.87778 = 6.13658.
			name:   "NIST 6.3.2.2 flow rate",
			values: []float64{49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1},
			pubCL:  50.81, pubMRBar: 1.8778, pubUCL: 55.8041, pubLCL: 45.8159, digits: 1e-4,
			cl: 50.81, mrBar: 16.9 / 9, unpl: 50.81 + 2.66*16.9/9, lnpl: 50.81 - 2.66*16.9/9, url: 3.268 * 16.9 / 9,
		},
		{
			// SAS/QC User's Guide, MACONTROL Example 9.4 "Displaying
			// Individual Measurements on an EWMA Chart": 30 steel-belt
			// diameters, IRCHART limits (Output 9.4.1): _MEAN_ = 24.0083,
			// _R_ = 0.056897, _LCLI_ = 23.8571, _UCLI_ = 24.1596,
			// _UCLR_ = 0.18585. Ours: x̄ = 720.25/30 = 24.008333…;
			// mR̄ = 1.65/29 = 0.0568966; UNPL = 24.159678; LNPL = 23.856989;
			// URL = 0.185938.
			name: "SAS QC Example 9.4 tire diameters",
			values: []float64{
				24.05, 23.99, 23.95, 23.93, 23.97, 24.02, 24.06, 24.10, 23.98, 24.03,
				23.91, 24.06, 24.06, 23.96, 23.98, 24.06, 24.01, 24.00, 23.93, 23.92,
				24.09, 24.11, 24.05, 23.98, 23.98, 24.06, 24.02, 24.06, 23.97, 23.96,
			},
			pubCL: 24.0083, pubMRBar: 0.056897, pubUCL: 24.1596, pubLCL: 23.8571, digits: 1e-4,
			cl: 720.25 / 30, mrBar: 1.65 / 29, unpl: 720.25/30 + 2.66*1.65/29, lnpl: 720.25/30 - 2.66*1.65/29, url: 3.268 * 1.65 / 29,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ComputeLimits(tc.values)
			if err != nil {
				t.Fatal(err)
			}
			const exact = 1e-9
			if !near(l.CL, tc.cl, exact) || !near(l.MRBar, tc.mrBar, exact) || !near(l.UNPL, tc.unpl, exact) ||
				!near(l.LNPL, tc.lnpl, exact) || !near(l.URL, tc.url, exact) {
				t.Errorf("limits = %+v, want cl %v mr̄ %v unpl %v lnpl %v url %v", l, tc.cl, tc.mrBar, tc.unpl, tc.lnpl, tc.url)
			}
			if !near(l.CL, tc.pubCL, tc.digits/2) || !near(l.MRBar, tc.pubMRBar, tc.digits/2) {
				t.Errorf("cl %v mr̄ %v, published %v %v", l.CL, l.MRBar, tc.pubCL, tc.pubMRBar)
			}
			factorTol := 0.0014*l.MRBar + tc.digits/2
			if !near(l.UNPL, tc.pubUCL, factorTol) || !near(l.LNPL, tc.pubLCL, factorTol) {
				t.Errorf("unpl %v lnpl %v, published %v %v (±%v)", l.UNPL, l.LNPL, tc.pubUCL, tc.pubLCL, factorTol)
			}
			if l.N != len(tc.values) || l.Provisional {
				t.Errorf("n %d provisional %v", l.N, l.Provisional)
			}
		})
	}
}

// TestNISTExampleInControl: NIST's §6.3.2.2 chart shows the ten flow-rate
// batches in control. By hand against the limits above: no value beyond
// 45.815…55.805; beyond the halfway lines (48.313, 53.307) only 47.6, 47.8
// (two in one window, not three) and 53.6; the longest run is the last five
// above 50.81; the largest moving range is 3.5 < URL 6.137. No signals.
func TestNISTExampleInControl(t *testing.T) {
	c, err := Compute(series(49.6, 47.6, 49.9, 51.3, 47.8, 51.2, 52.6, 52.4, 53.6, 52.1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Signals) != 0 {
		t.Errorf("signals = %+v, want none", c.Signals)
	}
	if len(c.Segments) != 1 || c.Segments[0].Limits == nil || c.Segments[0].Limits.Locked {
		t.Fatalf("segments = %+v", c.Segments)
	}
	if c.Points[0].MR != nil || c.Points[1].MR == nil || !near(*c.Points[1].MR, 2.0, 1e-9) {
		t.Errorf("moving ranges: first %v second %v", c.Points[0].MR, c.Points[1].MR)
	}
}

// TestLockedBaselineAppliedToNewData follows the SAS/QC IRCHART example
// "Reading Preestablished Control Limits": limits saved from 20 jet engine
// diameters (Jets) are applied to the next 20 (Jets2). SAS does not print the
// limits in the text, so they are worked here with Wheeler's factors: sum of
// Jets = 1607.8, x̄ = 80.39; sum of the 19 moving ranges = 101.2, mR̄ =
// 5.326316; UNPL = 94.558; LNPL = 66.222; URL = 17.4064. Jets2 against them:
// all values within the limits, beyond the halfway lines (87.474, 73.306)
// only engines 22, 24 and 40 (never three in four), no run longer than three,
// largest moving range 12.8 (engine 40) < URL. No signals, and the later
// values must not move the limits; unlocked, the limits come from all 40.
func TestLockedBaselineAppliedToNewData(t *testing.T) {
	jets := []float64{78.4, 80.1, 84.4, 79.1, 80.4, 83.5, 73.8, 83.5, 75.0, 76.8,
		70.5, 80.3, 82.4, 79.4, 86.4, 90.5, 77.7, 82.5, 79.9, 83.2}
	jets2 := []float64{81.8, 87.5, 80.0, 89.3, 83.9, 76.3, 75.8, 82.4, 82.6, 77.7,
		79.3, 81.4, 76.8, 75.9, 86.3, 77.4, 80.9, 87.1, 85.7, 73.3}
	pts := series(append(append([]float64{}, jets...), jets2...)...)

	locked, err := Compute(pts, Options{Baseline: Baseline{N: 20, Locked: true}})
	if err != nil {
		t.Fatal(err)
	}
	l := locked.Segments[0].Limits
	if !near(l.CL, 80.39, 1e-9) || !near(l.MRBar, 101.2/19, 1e-9) || !near(l.UNPL, 80.39+2.66*101.2/19, 1e-9) ||
		!near(l.LNPL, 80.39-2.66*101.2/19, 1e-9) || !near(l.URL, 3.268*101.2/19, 1e-9) {
		t.Errorf("locked limits = %+v", l)
	}
	if l.N != 20 || !l.Locked || !l.BaselineFrom.Equal(month(0)) || !l.BaselineTo.Equal(month(19)) {
		t.Errorf("baseline = n %d locked %v %v..%v", l.N, l.Locked, l.BaselineFrom, l.BaselineTo)
	}
	if len(locked.Signals) != 0 {
		t.Errorf("signals = %+v, want none", locked.Signals)
	}
	for i, p := range locked.Points {
		if p.Baseline != (i < 20) {
			t.Errorf("point %d baseline = %v", i, p.Baseline)
		}
	}
	// Same baseline, limits computed before the new data existed.
	only, err := Compute(series(jets...), Options{Baseline: Baseline{Locked: true}})
	if err != nil {
		t.Fatal(err)
	}
	if *only.Segments[0].Limits != *l {
		t.Errorf("later values moved locked limits: %+v vs %+v", *only.Segments[0].Limits, *l)
	}

	// Unlocked: the same 40 values all go into the limits: Σ = 3229.2,
	// x̄ = 80.73; Σ mR over 39 = 202.3, mR̄ = 5.187179.
	floating, err := Compute(pts, Options{Baseline: Baseline{N: 20}})
	if err != nil {
		t.Fatal(err)
	}
	f := floating.Segments[0].Limits
	if !near(f.CL, 80.73, 1e-9) || !near(f.MRBar, 202.3/39, 1e-9) || f.N != 40 || f.Locked {
		t.Errorf("unlocked limits = %+v", f)
	}
}

// The hand-worked baseline used by the rule tests: 12, 10, 12, 10, 12, 10.
// x̄ = 66/6 = 11; five moving ranges of 2, mR̄ = 2; UNPL = 11 + 5.32 =
// 16.32; LNPL = 5.68; URL = 6.536; halfway lines 11 ± 2.66 = 13.66 / 8.34.
// It ends below the centre line so runs after it start fresh.
var handBaseline = []float64{12, 10, 12, 10, 12, 10}

func withBaseline(after ...float64) []Point {
	return series(append(append([]float64{}, handBaseline...), after...)...)
}

var lockedSix = Options{Baseline: Baseline{N: 6, Locked: true}}

func TestHandBaselineLimits(t *testing.T) {
	c, err := Compute(withBaseline(), lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	l := c.Segments[0].Limits
	want := Limits{CL: 11, UNPL: 16.32, LNPL: 5.68, MRBar: 2, URL: 6.536}
	if !near(l.CL, want.CL, 1e-12) || !near(l.UNPL, want.UNPL, 1e-12) || !near(l.LNPL, want.LNPL, 1e-12) ||
		!near(l.MRBar, want.MRBar, 1e-12) || !near(l.URL, want.URL, 1e-12) ||
		!near(l.UpperHalfway(), 13.66, 1e-12) || !near(l.LowerHalfway(), 8.34, 1e-12) {
		t.Errorf("limits = %+v", l)
	}
	if l.Provisional || l.N != 6 {
		t.Errorf("six values: n %d provisional %v, want firm", l.N, l.Provisional)
	}
}

// TestLockedVersusUnlocked: 16.4 after the hand baseline is beyond the
// locked UNPL 16.32. Unlocked, it is folded in: x̄ = 82.4/7 = 11.771,
// mR̄ = (5·2 + 6.4)/6 = 2.7333, UNPL = 19.042, so it no longer signals. That
// is the reason to lock a baseline.
func TestLockedVersusUnlocked(t *testing.T) {
	pts := withBaseline(16.4)
	locked, err := Compute(pts, lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	if len(locked.Signals) != 1 || locked.Signals[0].Rule != BeyondLimits || locked.Signals[0].Index != 6 {
		t.Errorf("locked signals = %+v", locked.Signals)
	}
	unlocked, err := Compute(pts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	u := unlocked.Segments[0].Limits
	if !near(u.CL, 82.4/7, 1e-12) || !near(u.MRBar, 16.4/6, 1e-12) || !near(u.UNPL, 82.4/7+2.66*16.4/6, 1e-12) || u.N != 7 {
		t.Errorf("unlocked limits = %+v", u)
	}
	if len(unlocked.Signals) != 0 {
		t.Errorf("unlocked signals = %+v", unlocked.Signals)
	}
}

func TestBaselineSelection(t *testing.T) {
	values := make([]float64, 25)
	for i := range values {
		values[i] = float64(10 + i%2*2) // 10, 12, 10, 12, …
	}
	cases := []struct {
		name       string
		n          int // points
		b          Baseline
		wantN      int
		from, to   int // baseline point indexes, inclusive
		noLimits   bool
		provisonal bool
	}{
		{name: "locked default takes the first 20", n: 25, b: Baseline{Locked: true}, wantN: 20, from: 0, to: 19},
		{name: "locked N", n: 25, b: Baseline{Locked: true, N: 8}, wantN: 8, from: 0, to: 7},
		{name: "locked default with few points is provisional", n: 3, b: Baseline{Locked: true}, wantN: 3, from: 0, to: 2, provisonal: true},
		{name: "five values are provisional", n: 5, b: Baseline{Locked: true}, wantN: 5, from: 0, to: 4, provisonal: true},
		{name: "two values are enough for limits", n: 2, b: Baseline{}, wantN: 2, from: 0, to: 1, provisonal: true},
		{name: "one value is not", n: 1, b: Baseline{}, noLimits: true},
		{name: "time range is from-inclusive, to-exclusive", n: 25, b: Baseline{Locked: true, From: month(3), To: month(15)}, wantN: 12, from: 3, to: 14},
		{name: "time range capped by N", n: 25, b: Baseline{Locked: true, From: month(3), To: month(15), N: 6}, wantN: 6, from: 3, to: 8},
		{name: "open-ended range", n: 25, b: Baseline{Locked: true, From: month(20)}, wantN: 5, from: 20, to: 24, provisonal: true},
		{name: "range with one value gives no limits", n: 25, b: Baseline{Locked: true, From: month(24)}, noLimits: true},
		{name: "range after the data gives no limits", n: 25, b: Baseline{Locked: true, From: month(40)}, noLimits: true},
		{name: "unlocked ignores the range", n: 25, b: Baseline{From: month(3), To: month(15)}, wantN: 25, from: 0, to: 24},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compute(series(values[:tc.n]...), Options{Baseline: tc.b})
			if err != nil {
				t.Fatal(err)
			}
			l := c.Segments[0].Limits
			if tc.noLimits {
				if l != nil || len(c.Signals) != 0 {
					t.Fatalf("limits = %+v signals %v, want none", l, c.Signals)
				}
				return
			}
			if l == nil {
				t.Fatal("no limits")
			}
			if l.N != tc.wantN || !l.BaselineFrom.Equal(month(tc.from)) || !l.BaselineTo.Equal(month(tc.to)) ||
				l.Provisional != tc.provisonal || l.Locked != tc.b.Locked {
				t.Errorf("limits = %+v, want n %d from %v to %v provisional %v", l, tc.wantN, month(tc.from), month(tc.to), tc.provisonal)
			}
			for i, p := range c.Points {
				if p.Baseline != (i >= tc.from && i <= tc.to) {
					t.Errorf("point %d baseline = %v", i, p.Baseline)
				}
			}
		})
	}
}

// TestConstantSeries: identical values give zero-width limits, and the
// values themselves must not signal against them (the mean is clamped so a
// rounding sum cannot push the centre line off the data). 0.1·3 sums to
// 0.30000000000000004 in binary.
func TestConstantSeries(t *testing.T) {
	c, err := Compute(series(0.1, 0.1, 0.1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := c.Segments[0].Limits
	if l.CL != 0.1 || l.UNPL != 0.1 || l.LNPL != 0.1 || l.MRBar != 0 || l.URL != 0 {
		t.Errorf("limits = %+v", l)
	}
	if len(c.Signals) != 0 {
		t.Errorf("signals = %+v", c.Signals)
	}
}

func TestDividers(t *testing.T) {
	// Two processes: 10/12 alternating, then 30/32 alternating from index 6.
	// Each segment: mR̄ = 2, so limits CL ± 5.32 with CL 11 and 31. Without
	// a divider the jump 12 → 30 is a moving range of 18 and the 30s are far
	// above the limits of all twelve values.
	pts := series(12, 10, 12, 10, 12, 10, 30, 32, 30, 32, 30, 32)
	cases := []struct {
		name      string
		dividers  []Divider
		starts    []int // first point of each segment
		labels    []string
		startTime []time.Time
	}{
		{name: "by index", dividers: []Divider{{Index: 6, Label: "kaizen"}}, starts: []int{0, 6}, labels: []string{"", "kaizen"}, startTime: []time.Time{month(0), month(6)}},
		{name: "by time between points", dividers: []Divider{{At: month(5).Add(time.Hour), Label: "kaizen"}}, starts: []int{0, 6}, labels: []string{"", "kaizen"}, startTime: []time.Time{month(0), month(5).Add(time.Hour)}},
		{name: "by time on a point", dividers: []Divider{{At: month(6)}}, starts: []int{0, 6}, labels: []string{"", ""}, startTime: []time.Time{month(0), month(6)}},
		{name: "after the data does nothing", dividers: []Divider{{Index: 6}, {At: month(30)}, {Index: 99}}, starts: []int{0, 6}, labels: []string{"", ""}, startTime: []time.Time{month(0), month(6)}},
		{name: "before the data labels the first segment", dividers: []Divider{{At: month(-3), Label: "new KPI"}, {Index: 6}}, starts: []int{0, 6}, labels: []string{"new KPI", ""}, startTime: []time.Time{month(0), month(6)}},
		{name: "same point: the later divider wins", dividers: []Divider{{Index: 6, Label: "first"}, {At: month(6), Label: "second"}}, starts: []int{0, 6}, labels: []string{"", "second"}, startTime: []time.Time{month(0), month(6)}},
		{name: "order does not matter", dividers: []Divider{{Index: 9, Label: "b"}, {Index: 6, Label: "a"}}, starts: []int{0, 6, 9}, labels: []string{"", "a", "b"}, startTime: []time.Time{month(0), month(6), month(9)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compute(pts, Options{Dividers: tc.dividers})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Segments) != len(tc.starts) {
				t.Fatalf("segments = %+v", c.Segments)
			}
			for k, s := range c.Segments {
				last := len(pts) - 1
				if k+1 < len(tc.starts) {
					last = tc.starts[k+1] - 1
				}
				if s.Index != k || s.First != tc.starts[k] || s.Last != last || s.Label != tc.labels[k] || !s.Start.Equal(tc.startTime[k]) {
					t.Errorf("segment %d = %+v", k, s)
				}
				if c.Points[s.First].MR != nil {
					t.Errorf("segment %d: first point has a moving range %v: ranges must not span a divider", k, *c.Points[s.First].MR)
				}
				for i := s.First; i <= s.Last; i++ {
					if c.Points[i].Segment != k {
						t.Errorf("point %d segment %d, want %d", i, c.Points[i].Segment, k)
					}
				}
			}
			if len(c.Signals) != 0 {
				t.Errorf("signals = %+v, want none within each process", c.Signals)
			}
			if l := c.Segments[1].Limits; l == nil || !near(l.MRBar, 2, 1e-12) {
				t.Errorf("segment 1 limits = %+v", l)
			}
		})
	}

	// The same data without a divider: one segment, x̄ = 21, mR̄ = (10 + 18
	// + 10)/11 = 3.4545, limits 21 ± 9.189 = 11.811…30.189: the three 10s
	// are below and the three 32s above, and 12 → 30 (mR 18 > URL 11.29) is
	// a jump: two processes read as one look like chaos.
	c, err := Compute(pts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mr, beyond int
	for _, s := range c.Signals {
		switch s.Rule {
		case MRAboveURL:
			mr++
			if s.Index != 6 || s.Side != Above || s.Points[0] != 5 || s.Points[1] != 6 {
				t.Errorf("mr signal = %+v", s)
			}
		case BeyondLimits:
			beyond++
		}
	}
	if mr != 1 || beyond != 6 {
		t.Errorf("without a divider: %d mR and %d beyond-limits signals, want 1 and 6: %+v", mr, beyond, c.Signals)
	}
}

func TestDividerBaselines(t *testing.T) {
	// Each segment has its own baseline. Segment 0 locked on its first six
	// (CL 11); segment 1 (from index 8) unlocked: 20, 22, 20, 22 → CL 21,
	// mR̄ 2. The 16.4 at index 6 is beyond segment 0's locked UNPL 16.32
	// and the 13 at 7 is just a value; segment 1's own limits judge 20–22.
	pts := series(12, 10, 12, 10, 12, 10, 16.4, 13, 20, 22, 20, 22)
	c, err := Compute(pts, Options{
		Baseline: Baseline{N: 6, Locked: true},
		Dividers: []Divider{{Index: 8, Baseline: Baseline{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := c.Segments[0].Limits, c.Segments[1].Limits
	if !s0.Locked || s0.N != 6 || s0.CL != 11 || s1.Locked || s1.N != 4 || s1.CL != 21 || !s1.Provisional {
		t.Errorf("segment limits = %+v / %+v", s0, s1)
	}
	if len(c.Signals) != 1 || c.Signals[0].Index != 6 || c.Signals[0].Rule != BeyondLimits || c.Signals[0].Segment != 0 {
		t.Errorf("signals = %+v", c.Signals)
	}
}

func TestComputeErrors(t *testing.T) {
	good := series(1, 2, 3)
	cases := []struct {
		name string
		pts  []Point
		opts Options
		want string
	}{
		{name: "unsorted", pts: []Point{{At: month(1), Value: 1}, {At: month(0), Value: 2}}, want: "time order"},
		{name: "NaN", pts: []Point{{At: month(0), Value: math.NaN()}}, want: "finite"},
		{name: "Inf", pts: []Point{{At: month(0), Value: math.Inf(-1)}}, want: "finite"},
		{name: "huge", pts: []Point{{At: month(0), Value: 1e101}}, want: "beyond"},
		{name: "baseline of one", pts: good, opts: Options{Baseline: Baseline{N: 1}}, want: "at least 2"},
		{name: "negative baseline", pts: good, opts: Options{Baseline: Baseline{N: -1}}, want: "negative"},
		{name: "empty range", pts: good, opts: Options{Baseline: Baseline{From: month(2), To: month(2)}}, want: "before"},
		{name: "divider baseline", pts: good, opts: Options{Dividers: []Divider{{Index: 1, Baseline: Baseline{N: 1}}}}, want: "dividers[0].baseline"},
		{name: "divider nowhere", pts: good, opts: Options{Dividers: []Divider{{Label: "x"}}}, want: "dividers[0] needs"},
		{name: "divider negative", pts: good, opts: Options{Dividers: []Divider{{Index: -2}}}, want: "negative"},
		{name: "unknown rule", pts: good, opts: Options{Rules: Rules{"nelson_5": Warning}}, want: "unknown rule"},
		{name: "unknown severity", pts: good, opts: Options{Rules: Rules{BeyondLimits: "alarm"}}, want: "unknown severity"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(tc.pts, tc.opts)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := ComputeLimits([]float64{1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("ComputeLimits(one value) err = %v", err)
	}
}

func TestEmptyChartEncodesAsEmptyLists(t *testing.T) {
	c, err := Compute(nil, Options{Dividers: []Divider{{Index: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"points":[],"segments":[],"signals":[]}` {
		t.Errorf("json = %s", b)
	}
}

// TestJSONShape pins the snake_case names the API serves.
func TestJSONShape(t *testing.T) {
	c, err := Compute(withBaseline(16.4), lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"points":[{"index":0,"at":"2024-01-01T00:00:00Z","value":12,"id":"m0","mr":null,"segment":0,"baseline":true}`,
		`"limits":{"cl":11,"unpl":16.32`, `"mr_bar":2,"url":6.536`,
		`"baseline_from":"2024-01-01T00:00:00Z","baseline_to":"2024-06-01T00:00:00Z","n":6,"locked":true,"provisional":false`,
		`"signals":[{"rule":"beyond_limits","severity":"violation","index":6,"at":"2024-07-01T00:00:00Z","point_id":"m6","points":[6],"side":"above","segment":0,"value":16.4,"threshold":16.32`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json lacks %s\n%s", want, b)
		}
	}
	var back Chart
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Signals) != 1 || back.Segments[0].Limits.N != 6 || !near(*back.Points[6].MR, 6.4, 1e-12) {
		t.Errorf("round trip = %+v", back)
	}
}
