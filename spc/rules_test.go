package spc

import (
	"math"
	"slices"
	"testing"
)

// sig is the part of a signal a rule test pins.
type sig struct {
	rule   Rule
	index  int
	side   Side
	points []int
}

func sigs(c Chart) []sig {
	out := []sig{}
	for _, s := range c.Signals {
		out = append(out, sig{s.Rule, s.Index, s.Side, s.Points})
	}
	return out
}

func sameSigs(a, b []sig) bool {
	return slices.EqualFunc(a, b, func(x, y sig) bool {
		return x.rule == y.rule && x.index == y.index && x.side == y.side && slices.Equal(x.points, y.points)
	})
}

// TestRules runs each rule on values after the hand-worked locked baseline
// 12, 10, 12, 10, 12, 10 (indexes 0–5): CL 11, UNPL 16.32, LNPL 5.68,
// halfway lines 13.66 and 8.34, URL 6.536. The first value after it is
// index 6, and its moving range is measured from 10.
func TestRules(t *testing.T) {
	l, err := ComputeLimits(handBaseline)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		after []float64
		want  []sig
	}{
		// Rule 1.
		{name: "beyond UNPL", after: []float64{16.4}, want: []sig{{BeyondLimits, 6, Above, []int{6}}}},
		{name: "beyond LNPL", after: []float64{5.6}, want: []sig{{BeyondLimits, 6, Below, []int{6}}}},
		{name: "just inside UNPL", after: []float64{16.31}},
		{name: "exactly on UNPL is not beyond", after: []float64{l.UNPL}},
		{name: "exactly on LNPL is not beyond", after: []float64{l.LNPL}},
		{name: "just inside LNPL", after: []float64{5.69}},

		// Rule 2: 13.7 is beyond the upper halfway line 13.66, 11 is on CL.
		{name: "three of four above", after: []float64{13.7, 11, 13.7, 13.7},
			want: []sig{{ThreeOfFour, 9, Above, []int{6, 8, 9}}}},
		{name: "three of four below", after: []float64{8.3, 8.3, 11, 8.3},
			want: []sig{{ThreeOfFour, 9, Below, []int{6, 7, 9}}}},
		// 13.6 is below the halfway line: only two of four beyond it.
		{name: "two of four is not three", after: []float64{13.7, 11, 13.6, 13.7}},
		{name: "exactly on the halfway line does not count", after: []float64{13.7, l.UpperHalfway(), 13.7, 11}},
		// Three beyond, but spread over five points: no four-window holds three.
		{name: "three in five", after: []float64{13.7, 11, 11, 13.7, 13.7}},
		// Three on different sides do not add up.
		{name: "mixed sides", after: []float64{13.7, 8.3, 13.7, 8.3}},
		// Three in a row fire at the third; the fourth fires again with all
		// four; a point back inside ends it (the window that ends on it
		// fired already at the previous point).
		{name: "consecutive windows", after: []float64{13.7, 13.7, 13.7, 13.7, 11},
			want: []sig{{ThreeOfFour, 8, Above, []int{6, 7, 8}}, {ThreeOfFour, 9, Above, []int{6, 7, 8, 9}}}},

		// Rule 3: 11.5 is above CL 11 but inside every other line.
		{name: "eight above", after: rep(11.5, 8),
			want: []sig{{EightOnOneSide, 13, Above, seq(6, 13)}}},
		// The baseline's last value (10, index 5) is below CL too: seven
		// more make eight. A locked baseline does not cut a run.
		{name: "eight below", after: rep(10.5, 7),
			want: []sig{{EightOnOneSide, 12, Below, seq(5, 12)}}},
		{name: "seven is not eight", after: rep(11.5, 7)},
		{name: "a point on the centre line breaks the run", after: append(append(rep(11.5, 7), 11), 11.5)},
		{name: "a point across breaks the run", after: append(append(rep(11.5, 4), 10.5), rep(11.5, 4)...)},
		{name: "a longer run fires at each new point", after: rep(11.5, 10),
			want: []sig{
				{EightOnOneSide, 13, Above, seq(6, 13)},
				{EightOnOneSide, 14, Above, seq(7, 14)},
				{EightOnOneSide, 15, Above, seq(8, 15)},
			}},

		// Rule 4: 6.0 and 13.0 are both inside the limits, 7.0 apart.
		{name: "jump up", after: []float64{6.0, 13.0}, want: []sig{{MRAboveURL, 7, Above, []int{6, 7}}}},
		{name: "jump down", after: []float64{13.0, 6.0}, want: []sig{{MRAboveURL, 7, Below, []int{6, 7}}}},
		{name: "mR just below URL", after: []float64{6.0, 12.5}},
		// A jump beyond the limits fires both rules, rule 1 first.
		{name: "beyond and jump", after: []float64{16.6},
			want: []sig{{BeyondLimits, 6, Above, []int{6}}, {MRAboveURL, 6, Above, []int{5, 6}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compute(withBaseline(tc.after...), lockedSix)
			if err != nil {
				t.Fatal(err)
			}
			if got := sigs(c); !sameSigs(got, tc.want) {
				t.Errorf("signals = %+v\nwant %+v", got, tc.want)
			}
			for _, s := range c.Signals {
				if s.At != c.Points[s.Index].At || s.PointID != c.Points[s.Index].ID || s.Segment != 0 {
					t.Errorf("signal %+v does not name its point", s)
				}
			}
		})
	}
}

// TestMRExactlyURL: a moving range equal to URL is not above it. The pair
// (prev, prev+URL) is chosen so the subtraction is exact in binary: prev
// near 7 keeps prev ≥ (prev+URL)/2 (Sterbenz), and nudging prev by one ulp
// makes the rounded sum land on a representable neighbour.
func TestMRExactlyURL(t *testing.T) {
	l, err := ComputeLimits(handBaseline)
	if err != nil {
		t.Fatal(err)
	}
	prev := 7.0
	if (prev+l.URL)-prev != l.URL {
		prev = math.Nextafter(7, 8)
	}
	next := prev + l.URL
	if next-prev != l.URL {
		t.Fatalf("could not construct an exact moving range of %v", l.URL)
	}
	c, err := Compute(withBaseline(prev, next), lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Signals) != 0 || *c.Points[7].MR != l.URL {
		t.Errorf("mR %v = URL %v: signals %+v", *c.Points[7].MR, l.URL, c.Signals)
	}
	c, err = Compute(withBaseline(prev, math.Nextafter(next, 100)), lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Signals) != 1 || c.Signals[0].Rule != MRAboveURL {
		t.Errorf("one ulp above URL: signals %+v", c.Signals)
	}
}

func TestSignalDetails(t *testing.T) {
	c, err := Compute(withBaseline(append(rep(11.5, 9), 6.0, 13.0)...), lockedSix)
	if err != nil {
		t.Fatal(err)
	}
	var run, mr Signal
	for _, s := range c.Signals {
		switch s.Rule {
		case EightOnOneSide:
			run = s
		case MRAboveURL:
			mr = s
		}
	}
	// The last run signal is at the 9th 11.5 (index 14) with run 9.
	if run.Index != 14 || run.Run != 9 || run.Value != 11.5 || run.Threshold != 11 || len(run.Points) != RunLength {
		t.Errorf("run signal = %+v", run)
	}
	if mr.Index != 16 || !near(mr.Value, 7, 1e-12) || !near(mr.Threshold, 6.536, 1e-12) {
		t.Errorf("mr signal = %+v", mr)
	}
}

// TestRulesWithinSegments: patterns that straddle a divider do not fire,
// because each segment is a different process. Segment 1 (from index 10)
// locks its baseline on months 14–19 (12, 10, 12, 10, 12, 10: CL 11 again),
// so both segments have the same lines and only the divider separates the
// runs.
func TestRulesWithinSegments(t *testing.T) {
	seg1Baseline := Baseline{Locked: true, From: month(14), To: month(20)}
	cases := []struct {
		name        string
		last4, next []float64 // last four values of segment 0, first four of segment 1
		rule        Rule
		fireAt      int // without the divider
	}{
		// Four above CL on each side of the divider: eight in a row only
		// when read as one segment (fires at index 13).
		{name: "run of eight", last4: rep(11.5, 4), next: rep(11.5, 4), rule: EightOnOneSide, fireAt: 13},
		// Two beyond the halfway line on each side: three of four only
		// across the divider (fires at index 10).
		{name: "three of four", last4: []float64{11, 11, 13.7, 13.7}, next: []float64{13.7, 11, 11, 11}, rule: ThreeOfFour, fireAt: 10},
		// A jump across the divider is not a moving range.
		{name: "moving range", last4: []float64{11, 11, 11, 6.0}, next: []float64{13.0, 11, 11, 11}, rule: MRAboveURL, fireAt: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := append(append(append(append([]float64{}, handBaseline...), tc.last4...), tc.next...), handBaseline...)
			pts := series(values...)
			one, err := Compute(pts, lockedSix)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(one.Signals, func(s Signal) bool { return s.Rule == tc.rule && s.Index == tc.fireAt }) {
				t.Fatalf("as one segment, %s does not fire at %d: %+v", tc.rule, tc.fireAt, sigs(one))
			}
			two, err := Compute(pts, Options{
				Baseline: Baseline{N: 6, Locked: true},
				Dividers: []Divider{{Index: 10, Baseline: seg1Baseline}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if l := two.Segments[1].Limits; l == nil || l.CL != 11 || l.N != 6 || !l.BaselineFrom.Equal(month(14)) {
				t.Fatalf("segment 1 limits = %+v", l)
			}
			if len(two.Signals) != 0 {
				t.Errorf("with the divider: %+v, want none", sigs(two))
			}
		})
	}
}

// TestSegmentsHaveTheirOwnLimits: 20 is far above segment 0's limits but
// below segment 1's (CL 31, LNPL 25.68): it signals low, in segment 1.
func TestSegmentsHaveTheirOwnLimits(t *testing.T) {
	pts := series(12, 10, 12, 10, 12, 10, 30, 32, 30, 32, 30, 32, 20)
	c, err := Compute(pts, Options{
		Baseline: Baseline{Locked: true},
		Dividers: []Divider{{Index: 6, Baseline: Baseline{Locked: true, N: 6}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []sig{
		{BeyondLimits, 12, Below, []int{12}},
		{MRAboveURL, 12, Below, []int{11, 12}}, // 12 > URL 6.536
	}
	if got := sigs(c); !sameSigs(got, want) {
		t.Errorf("signals = %+v, want %+v", got, want)
	}
	if c.Signals[0].Segment != 1 || c.Signals[0].Threshold != c.Segments[1].Limits.LNPL {
		t.Errorf("signal = %+v", c.Signals[0])
	}
}

// TestThreeOfFourAtSegmentStart: at the start of a segment the window is
// shorter; three beyond the halfway line in its first three points fire at
// the third (any four-window holding them holds three). The segment is
// locked on a later baseline so its first points can be unusual.
func TestThreeOfFourAtSegmentStart(t *testing.T) {
	values := append(append([]float64{}, handBaseline...), 13.7, 13.7, 13.7)
	values = append(values, handBaseline...)
	c, err := Compute(series(values...), Options{
		Dividers: []Divider{{Index: 6, Baseline: Baseline{Locked: true, From: month(9)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []sig{{ThreeOfFour, 8, Above, []int{6, 7, 8}}}
	if got := sigs(c); !sameSigs(got, want) {
		t.Errorf("signals = %+v, want %+v", got, want)
	}
}

func TestRuleSeverities(t *testing.T) {
	// 16.6 fires beyond_limits and mr_above_url; eight 11.5s after a point
	// below would fire the run rule, but 16.6 is above, so the run is 16.6 +
	// seven 11.5s = eight above: it fires too, at index 13.
	pts := withBaseline(append([]float64{16.6}, rep(11.5, 7)...)...)
	cases := []struct {
		name  string
		rules Rules
		want  map[Rule]Severity
	}{
		{name: "defaults", rules: nil, want: map[Rule]Severity{BeyondLimits: Violation, MRAboveURL: Warning, EightOnOneSide: Warning}},
		{name: "configured", rules: Rules{MRAboveURL: Violation, EightOnOneSide: Ignore},
			want: map[Rule]Severity{BeyondLimits: Violation, MRAboveURL: Violation}},
		{name: "all ignored", rules: Rules{BeyondLimits: Ignore, ThreeOfFour: Ignore, EightOnOneSide: Ignore, MRAboveURL: Ignore},
			want: map[Rule]Severity{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compute(pts, Options{Baseline: lockedSix.Baseline, Rules: tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			got := map[Rule]Severity{}
			for _, s := range c.Signals {
				got[s.Rule] = s.Severity
			}
			if !mapsEqual(got, tc.want) {
				t.Errorf("severities = %v, want %v", got, tc.want)
			}
		})
	}
	if DefaultRules().Severity(ThreeOfFour) != Warning || (Rules{}).Severity(BeyondLimits) != Violation {
		t.Error("default severities")
	}
	d := DefaultRules()
	d[BeyondLimits] = Ignore
	if DefaultRules()[BeyondLimits] != Violation {
		t.Error("DefaultRules shares its map")
	}
}

func mapsEqual(a, b map[Rule]Severity) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestUnfavourable(t *testing.T) {
	cases := []struct {
		side Side
		dir  Direction
		want bool
	}{
		{Above, HigherIsBetter, false},
		{Below, HigherIsBetter, true},
		{Above, LowerIsBetter, true},
		{Below, LowerIsBetter, false},
		{Above, "", true}, // unknown direction errs towards an alert
		{Below, "sideways", true},
	}
	for _, tc := range cases {
		for _, rule := range rules() {
			if got := Unfavourable(Signal{Rule: rule, Side: tc.side}, tc.dir); got != tc.want {
				t.Errorf("Unfavourable(%s %s, %q) = %v, want %v", rule, tc.side, tc.dir, got, tc.want)
			}
		}
	}
}

func rep(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}
