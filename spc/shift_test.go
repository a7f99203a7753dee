package spc

import (
	"errors"
	"math"
	"testing"
)

func nan() float64 { return math.NaN() }

// TestSustainedShift judges values after a change against the hand-worked
// baseline (CL 11, UNPL 16.32, LNPL 5.68). 11.5 is on the higher side of the
// centre line and 10.5 on the lower, both well inside the limits.
func TestSustainedShift(t *testing.T) {
	before, err := ComputeLimits(handBaseline)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		after      []float64
		dir        Direction
		newSegment bool
		verdict    Verdict
		rule       string
		evidentAt  int // -1: none
		fav, unfav int
		on         int
		longFav    int
		longUnfav  int
	}{
		{name: "eight better, higher is better", after: rep(11.5, 8), dir: HigherIsBetter,
			verdict: ShiftedFavourably, rule: "eight_on_one_side", evidentAt: 7, fav: 8, longFav: 8},
		{name: "the same eight, lower is better", after: rep(11.5, 8), dir: LowerIsBetter,
			verdict: ShiftedUnfavourably, rule: "eight_on_one_side", evidentAt: 7, unfav: 8, longUnfav: 8},
		{name: "eight below, lower is better", after: rep(10.5, 8), dir: LowerIsBetter,
			verdict: ShiftedFavourably, rule: "eight_on_one_side", evidentAt: 7, fav: 8, longFav: 8},
		{name: "seven is too few to say", after: rep(11.5, 7), dir: HigherIsBetter,
			verdict: InsufficientData, evidentAt: -1, fav: 7, longFav: 7},
		{name: "eight values, no run", after: append(rep(11.5, 7), 11), dir: HigherIsBetter,
			verdict: NoShift, evidentAt: -1, fav: 7, on: 1, longFav: 7},
		{name: "interrupted run", after: append(append(rep(11.5, 5), 10.5), rep(11.5, 5)...), dir: HigherIsBetter,
			verdict: NoShift, evidentAt: -1, fav: 10, unfav: 1, longFav: 5, longUnfav: 1},
		// Better for eight, then worse for eight: where the process is now
		// is what counts.
		{name: "the latest run wins", after: append(rep(11.5, 8), rep(10.5, 8)...), dir: HigherIsBetter,
			verdict: ShiftedUnfavourably, rule: "eight_on_one_side", evidentAt: 15, fav: 8, unfav: 8, longFav: 8, longUnfav: 8},
		{name: "a run that goes on keeps its first evidence", after: rep(11.5, 12), dir: HigherIsBetter,
			verdict: ShiftedFavourably, rule: "eight_on_one_side", evidentAt: 7, fav: 12, longFav: 12},

		// New segment: mean of 17, 18, 17 = 17.33 > UNPL 16.32.
		{name: "new centre line beyond UNPL", after: []float64{17, 18, 17}, dir: HigherIsBetter, newSegment: true,
			verdict: ShiftedFavourably, rule: CentreLineBeyondLimits, evidentAt: 2, fav: 3, longFav: 3},
		{name: "new centre line beyond UNPL, lower is better", after: []float64{17, 18, 17}, dir: LowerIsBetter, newSegment: true,
			verdict: ShiftedUnfavourably, rule: CentreLineBeyondLimits, evidentAt: 2, unfav: 3, longUnfav: 3},
		// Mean 5.5 < LNPL 5.68.
		{name: "new centre line beyond LNPL, lower is better", after: []float64{5, 6}, dir: LowerIsBetter, newSegment: true,
			verdict: ShiftedFavourably, rule: CentreLineBeyondLimits, evidentAt: 1, fav: 2, longFav: 2},
		// Mean 16.3 is inside UNPL 16.32: not yet decided.
		{name: "new centre line just inside", after: []float64{16.2, 16.4}, dir: HigherIsBetter, newSegment: true,
			verdict: InsufficientData, evidentAt: -1, fav: 2, longFav: 2},
		// The same values without a divider: the centre-line test does not
		// apply, and three values cannot make a run.
		{name: "no divider, no centre-line test", after: []float64{17, 18, 17}, dir: HigherIsBetter,
			verdict: InsufficientData, evidentAt: -1, fav: 3, longFav: 3},
		{name: "one value is no centre line", after: []float64{30}, dir: HigherIsBetter, newSegment: true,
			verdict: InsufficientData, evidentAt: -1, fav: 1, longFav: 1},
		{name: "nothing after", after: nil, dir: HigherIsBetter, newSegment: true,
			verdict: InsufficientData, evidentAt: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SustainedShift(before, tc.after, tc.dir, tc.newSegment)
			if err != nil {
				t.Fatal(err)
			}
			at := -1
			if s.EvidentAt != nil {
				at = *s.EvidentAt
			}
			if s.Verdict != tc.verdict || s.Rule != tc.rule || at != tc.evidentAt {
				t.Errorf("verdict %s rule %q evident at %d, want %s %q %d", s.Verdict, s.Rule, at, tc.verdict, tc.rule, tc.evidentAt)
			}
			if s.After != len(tc.after) || s.Favourable != tc.fav || s.Unfavourable != tc.unfav || s.OnCentre != tc.on ||
				s.LongestFavourableRun != tc.longFav || s.LongestUnfavourableRun != tc.longUnfav {
				t.Errorf("evidence = %+v", s)
			}
			if s.BeforeCL != 11 || s.BeforeUNPL != before.UNPL || s.BeforeLNPL != before.LNPL {
				t.Errorf("before = %v %v %v", s.BeforeCL, s.BeforeUNPL, s.BeforeLNPL)
			}
			if (s.AfterCL != nil) != (tc.newSegment && len(tc.after) >= 2) {
				t.Errorf("after_cl = %v", s.AfterCL)
			}
			if s.AfterCL != nil && s.Provisional != (len(tc.after) < MinFirmBaseline) {
				t.Errorf("provisional = %v", s.Provisional)
			}
		})
	}
}

func TestSustainedShiftInputs(t *testing.T) {
	before, _ := ComputeLimits(handBaseline)
	if s, err := SustainedShift(Limits{}, rep(20, 10), HigherIsBetter, true); err != nil || s.Verdict != InsufficientData {
		t.Errorf("no before limits: %+v %v", s, err)
	}
	if _, err := SustainedShift(before, rep(20, 10), "", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("no direction: %v", err)
	}
	if _, err := SustainedShift(before, []float64{1, nan()}, HigherIsBetter, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("NaN: %v", err)
	}
	bad := before
	bad.LNPL, bad.UNPL = bad.UNPL, bad.LNPL
	if _, err := SustainedShift(bad, rep(20, 10), HigherIsBetter, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("disordered limits: %v", err)
	}
}

// TestKaizenSegmentShift: a lead time in days (lower is better) before and
// after a standardised Kaizen, with a divider at the change. Before: 20, 22
// alternating for a year: CL 21, mR̄ 2, LNPL 15.68. After: 14, 15
// alternating: mean 14.5 beyond LNPL after two months (provisional); after
// eight months all eight are below 21, and the run decides.
func TestKaizenSegmentShift(t *testing.T) {
	values := make([]float64, 0, 20)
	for i := range 12 {
		values = append(values, float64(20+2*(i%2)))
	}
	for i := range 8 {
		values = append(values, float64(14+i%2))
	}
	opts := Options{Dividers: []Divider{{Index: 12, Label: "KZ-7 standardised"}}}

	c, err := Compute(series(values[:14]...), opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.SegmentShift(1, LowerIsBetter)
	if err != nil {
		t.Fatal(err)
	}
	if s.Verdict != ShiftedFavourably || s.Rule != CentreLineBeyondLimits || !s.Provisional || *s.AfterCL != 14.5 {
		t.Errorf("two months after: %+v", s)
	}

	c, err = Compute(series(values...), opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err = c.SegmentShift(1, LowerIsBetter)
	if err != nil {
		t.Fatal(err)
	}
	if s.Verdict != ShiftedFavourably || s.Rule != string(EightOnOneSide) || *s.EvidentAt != 7 || s.Provisional {
		t.Errorf("eight months after: %+v", s)
	}
	// And read the wrong way round, it is a deterioration.
	if s, _ := c.SegmentShift(1, HigherIsBetter); s.Verdict != ShiftedUnfavourably {
		t.Errorf("higher is better: %+v", s)
	}
	for _, k := range []int{0, 2, -1} {
		if _, err := c.SegmentShift(k, LowerIsBetter); !errors.Is(err, ErrInvalid) {
			t.Errorf("SegmentShift(%d) err = %v", k, err)
		}
	}
}
