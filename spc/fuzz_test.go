package spc

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// FuzzCompute: whatever the values, dividers and baseline, Compute never
// panics, rejects only bad values, and returns a chart whose invariants hold
// (LNPL ≤ CL ≤ UNPL, segments tile the points, moving ranges never span a
// divider, signals point inside their segment) and that encodes as JSON.
// SustainedShift and SegmentShift on the result never panic either.
//
//	go test ./spc -run '^$' -fuzz FuzzCompute -fuzztime 60s
func FuzzCompute(f *testing.F) {
	f.Add([]byte{48, 1, 40, 1, 48, 1, 40, 1, 60, 1}, 0.0, uint8(0), false, uint8(0), uint8(3), uint8(0), false, uint8(0), uint8(0))
	f.Add([]byte{0, 0, 0, 0, 0, 0}, 0.0, uint8(1), true, uint8(6), uint8(2), uint8(2), true, uint8(1), uint8(3))
	f.Add([]byte{127, 1, 128, 1, 127, 1, 128, 1}, 1e100, uint8(2), true, uint8(1), uint8(0), uint8(4), false, uint8(0), uint8(0))
	f.Add([]byte{1, 2, 3}, math.NaN(), uint8(0), false, uint8(0), uint8(0), uint8(0), false, uint8(0), uint8(0))
	f.Add([]byte{5, 1, 5, 1}, -1e100, uint8(1), true, uint8(0), uint8(1), uint8(0), true, uint8(200), uint8(0))

	f.Fuzz(func(t *testing.T, data []byte, extreme float64, extremeAt uint8, locked bool, n uint8,
		div1, div2 uint8, divByTime bool, from, to uint8) {
		// Pairs of bytes: a value (int8/4) and hours to the next point (ties allowed).
		var pts []Point
		at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i+1 < len(data) && len(pts) < 200; i += 2 {
			pts = append(pts, Point{At: at, Value: float64(int8(data[i])) / 4})
			at = at.Add(time.Duration(data[i+1]) * time.Hour)
		}
		if len(pts) > 0 && int(extremeAt) < len(pts) {
			pts[extremeAt].Value = extreme
		}
		hour := func(h uint8) time.Time { return time.Date(2024, 1, 1, int(h), 0, 0, 0, time.UTC) }
		b := Baseline{N: int(n % 30), Locked: locked}
		if b.N == 1 {
			b.N = 2
		}
		if from > 0 {
			b.From = hour(from)
		}
		if to > from {
			b.To = hour(to)
		}
		var divs []Divider
		for _, d := range []uint8{div1, div2} {
			if d == 0 {
				continue
			}
			if divByTime {
				divs = append(divs, Divider{At: hour(d), Baseline: b})
			} else {
				divs = append(divs, Divider{Index: int(d), Baseline: Baseline{Locked: !locked}})
			}
		}

		c, err := Compute(pts, Options{Baseline: b, Dividers: divs})
		badExtreme := math.IsNaN(extreme) || math.IsInf(extreme, 0) || math.Abs(extreme) > MaxAbsValue
		if err != nil {
			if !badExtreme || int(extremeAt) >= len(pts) {
				t.Fatalf("Compute rejected valid input: %v", err)
			}
			return
		}
		checkChart(t, c, len(pts))
		if _, err := json.Marshal(c); err != nil {
			t.Fatalf("chart does not encode: %v", err)
		}

		for k := 1; k < len(c.Segments); k++ {
			for _, d := range []Direction{HigherIsBetter, LowerIsBetter} {
				s, err := c.SegmentShift(k, d)
				if err != nil {
					t.Fatalf("SegmentShift(%d): %v", k, err)
				}
				sides := s.Favourable + s.Unfavourable + s.OnCentre
				if s.After != c.Segments[k].Last-c.Segments[k].First+1 || c.Segments[k-1].Limits != nil && sides != s.After {
					t.Fatalf("shift evidence = %+v", s)
				}
				if _, err := json.Marshal(s); err != nil {
					t.Fatalf("shift does not encode: %v", err)
				}
			}
		}
	})
}

func checkChart(t *testing.T, c Chart, n int) {
	t.Helper()
	if len(c.Points) != n {
		t.Fatalf("%d points, want %d", len(c.Points), n)
	}
	if n == 0 {
		if len(c.Segments) != 0 || len(c.Signals) != 0 {
			t.Fatalf("empty input: %+v", c)
		}
		return
	}
	next := 0
	for k, s := range c.Segments {
		if s.Index != k || s.First != next || s.Last < s.First || s.Last >= n {
			t.Fatalf("segment %d = %+v, want first %d", k, s, next)
		}
		next = s.Last + 1
		if c.Points[s.First].MR != nil {
			t.Fatalf("segment %d starts with a moving range", k)
		}
		for i := s.First; i <= s.Last; i++ {
			p := c.Points[i]
			if p.Segment != k || p.Index != i {
				t.Fatalf("point %d: segment %d index %d", i, p.Segment, p.Index)
			}
			if i > s.First && (p.MR == nil || *p.MR < 0 || math.IsInf(*p.MR, 0) || math.IsNaN(*p.MR)) {
				t.Fatalf("point %d: mR %v", i, p.MR)
			}
		}
		if l := s.Limits; l != nil {
			for _, v := range []float64{l.CL, l.UNPL, l.LNPL, l.MRBar, l.URL} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("segment %d: non-finite limits %+v", k, l)
				}
			}
			if !(l.LNPL <= l.CL && l.CL <= l.UNPL) || l.MRBar < 0 || l.URL < l.MRBar {
				t.Fatalf("segment %d: limits out of order %+v", k, l)
			}
			if l.N < 2 || l.Provisional != (l.N < MinFirmBaseline) || l.BaselineTo.Before(l.BaselineFrom) {
				t.Fatalf("segment %d: baseline %+v", k, l)
			}
		}
	}
	if next != n {
		t.Fatalf("segments end at %d of %d points", next, n)
	}
	for _, s := range c.Signals {
		if s.Index < 0 || s.Index >= n || s.Segment < 0 || s.Segment >= len(c.Segments) {
			t.Fatalf("signal out of range: %+v", s)
		}
		seg := c.Segments[s.Segment]
		if seg.Limits == nil || s.Index < seg.First || s.Index > seg.Last {
			t.Fatalf("signal %+v outside its segment %+v", s, seg)
		}
		if s.Severity != Violation && s.Severity != Warning || s.Side != Above && s.Side != Below || len(s.Points) == 0 {
			t.Fatalf("signal %+v", s)
		}
		for _, i := range s.Points {
			if i < seg.First || i > s.Index {
				t.Fatalf("signal %+v involves point %d outside %d..%d", s, i, seg.First, s.Index)
			}
		}
	}
}

// FuzzSustainedShift: any limits and values give a verdict or an
// ErrInvalid, never a panic, and the evidence adds up.
func FuzzSustainedShift(f *testing.F) {
	f.Add(11.0, 2.0, 6, []byte{46, 46, 46, 46, 46, 46, 46, 46}, true, false)
	f.Add(0.0, 0.0, 2, []byte{0, 0, 1}, false, true)
	f.Add(1e100, 1e100, 20, []byte{255, 0}, true, true)
	f.Fuzz(func(t *testing.T, cl, mrBar float64, n int, data []byte, higher, newSegment bool) {
		before := Limits{CL: cl, UNPL: cl + NPLFactor*mrBar, LNPL: cl - NPLFactor*mrBar, MRBar: mrBar, URL: URLFactor * mrBar, N: n}
		after := make([]float64, len(data))
		for i, b := range data {
			after[i] = cl + float64(int8(b))/8
		}
		d := LowerIsBetter
		if higher {
			d = HigherIsBetter
		}
		s, err := SustainedShift(before, after, d, newSegment)
		if err != nil {
			return
		}
		switch s.Verdict {
		case ShiftedFavourably, ShiftedUnfavourably:
			if s.Rule == "" || s.EvidentAt == nil || *s.EvidentAt >= len(after) {
				t.Fatalf("shift without evidence: %+v", s)
			}
		case NoShift, InsufficientData:
			if s.Rule != "" || s.EvidentAt != nil {
				t.Fatalf("%s with evidence: %+v", s.Verdict, s)
			}
		default:
			t.Fatalf("verdict %q", s.Verdict)
		}
		if n >= 2 && s.Favourable+s.Unfavourable+s.OnCentre != len(after) {
			t.Fatalf("evidence does not add up: %+v", s)
		}
	})
}
