package spc

import "math"

// Verdict is SustainedShift's answer.
type Verdict string

const (
	ShiftedFavourably   Verdict = "shifted_favourably"
	ShiftedUnfavourably Verdict = "shifted_unfavourably"
	NoShift             Verdict = "no_shift"
	// InsufficientData: no before limits, or too few points after the change
	// for either test to have had a chance (fewer than RunLength, and no
	// decisive centre line).
	InsufficientData Verdict = "insufficient_data"
)

// CentreLineBeyondLimits names the sustained-shift test that a new
// segment's centre line lies beyond the old segment's natural process limits.
const CentreLineBeyondLimits = "centre_line_beyond_limits"

// Shift is the verdict of SustainedShift with its evidence, so a Kaizen
// effectiveness review can show why, not just what.
type Shift struct {
	Verdict Verdict `json:"verdict"`
	// Rule is the test that decided: "eight_on_one_side" or
	// "centre_line_beyond_limits"; empty for no_shift and insufficient_data.
	Rule string `json:"rule,omitempty"`
	// EvidentAt is the index (into the after values) of the point that
	// completed the deciding evidence; null when nothing decided.
	EvidentAt *int `json:"evident_at"`

	BeforeCL   float64 `json:"before_cl"`
	BeforeUNPL float64 `json:"before_unpl"`
	BeforeLNPL float64 `json:"before_lnpl"`

	// After counts the values after the change; Favourable, Unfavourable
	// and OnCentre split them by which side of the old centre line they
	// fall on, in the KPI's direction.
	After        int `json:"after"`
	Favourable   int `json:"favourable"`
	Unfavourable int `json:"unfavourable"`
	OnCentre     int `json:"on_centre"`
	// LongestFavourableRun and LongestUnfavourableRun are the longest runs
	// of successive values strictly on one side of the old centre line.
	LongestFavourableRun   int `json:"longest_favourable_run"`
	LongestUnfavourableRun int `json:"longest_unfavourable_run"`

	// AfterCL is the mean of the after values when they form a new segment
	// (at least two values); Provisional is set when it rests on fewer than
	// MinFirmBaseline values.
	AfterCL     *float64 `json:"after_cl,omitempty"`
	Provisional bool     `json:"provisional,omitempty"`
}

// SustainedShift says whether the values after a change show a sustained
// shift from the process described by before (typically a Kaizen's locked
// baseline) and which way, for a KPI that improves in direction d.
//
// Two tests, in this order:
//
//  1. eight_on_one_side: RunLength successive after values strictly on one
//     side of the old centre line. If runs on both sides reach that length,
//     the latest wins: the question is where the process is now.
//  2. centre_line_beyond_limits, only when newSegment (a divider started a
//     new segment at the change): the mean of the after values lies beyond
//     the old natural process limits. A mean of n values beyond 3-sigma
//     individual limits is strong evidence even for small n, so two values
//     suffice; fewer than MinFirmBaseline mark the evidence provisional.
//
// If neither fires, the verdict is no_shift once there are at least
// RunLength after values, and insufficient_data before that, because a run
// could not yet have completed. A zero before (N < 2) gives
// insufficient_data. Errors (wrapping ErrInvalid) are for an unknown
// direction, before limits out of order, and non-finite values.
func SustainedShift(before Limits, after []float64, d Direction, newSegment bool) (Shift, error) {
	if !d.Valid() {
		return Shift{}, invalid("direction must be %q or %q", HigherIsBetter, LowerIsBetter)
	}
	if err := checkValues(after); err != nil {
		return Shift{}, err
	}
	s := Shift{
		Verdict:  InsufficientData,
		BeforeCL: before.CL, BeforeUNPL: before.UNPL, BeforeLNPL: before.LNPL,
		After: len(after),
	}
	if before.N < 2 {
		return s, nil
	}
	// Limits may lie beyond MaxAbsValue (it bounds values, not CL ± 2.66·mR̄),
	// so they need only be finite and ordered.
	for _, v := range []float64{before.CL, before.UNPL, before.LNPL} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Shift{}, invalid("before limits must be finite numbers")
		}
	}
	if !(before.LNPL <= before.CL && before.CL <= before.UNPL) {
		return Shift{}, invalid("before limits must satisfy lnpl ≤ cl ≤ unpl")
	}

	sign := d.sign()
	runSide, run := 0, 0
	for i, x := range after {
		side := 0
		switch {
		case sign*(x-before.CL) > 0:
			side = 1
			s.Favourable++
		case sign*(x-before.CL) < 0:
			side = -1
			s.Unfavourable++
		default:
			s.OnCentre++
		}
		if side != 0 && side == runSide {
			run++
		} else {
			runSide, run = side, 0
			if side != 0 {
				run = 1
			}
		}
		if runSide > 0 {
			s.LongestFavourableRun = max(s.LongestFavourableRun, run)
		} else if runSide < 0 {
			s.LongestUnfavourableRun = max(s.LongestUnfavourableRun, run)
		}
		if run == RunLength {
			s.Verdict, s.Rule, s.EvidentAt = ShiftedFavourably, string(EightOnOneSide), &i
			if runSide < 0 {
				s.Verdict = ShiftedUnfavourably
			}
		}
	}

	if newSegment && len(after) >= 2 {
		cl := mean(after)
		s.AfterCL, s.Provisional = &cl, len(after) < MinFirmBaseline
		if s.Rule == "" {
			good, bad := before.UNPL, before.LNPL
			if sign < 0 {
				good, bad = bad, good
			}
			last := len(after) - 1
			switch {
			case d.better(cl, good):
				s.Verdict, s.Rule, s.EvidentAt = ShiftedFavourably, CentreLineBeyondLimits, &last
			case d.better(bad, cl):
				s.Verdict, s.Rule, s.EvidentAt = ShiftedUnfavourably, CentreLineBeyondLimits, &last
			}
		}
	}
	if s.Rule == "" && len(after) >= RunLength {
		s.Verdict = NoShift
	}
	return s, nil
}

// SegmentShift compares segment k of the chart with segment k−1: the usual
// question after a divider marks a standardised change. The previous
// segment's limits are the "before"; segment k's values are the "after",
// judged as a new segment.
func (c Chart) SegmentShift(k int, d Direction) (Shift, error) {
	if k < 1 || k >= len(c.Segments) {
		return Shift{}, invalid("segment %d has no previous segment to compare with (chart has %d)", k, len(c.Segments))
	}
	var before Limits
	if l := c.Segments[k-1].Limits; l != nil {
		before = *l
	}
	seg := c.Segments[k]
	if seg.First < 0 || seg.Last >= len(c.Points) || seg.First > seg.Last {
		return Shift{}, invalid("segment %d spans points %d..%d of %d", k, seg.First, seg.Last, len(c.Points))
	}
	after := make([]float64, 0, seg.Last-seg.First+1)
	for _, p := range c.Points[seg.First : seg.Last+1] {
		after = append(after, p.Value)
	}
	return SustainedShift(before, after, d, true)
}
