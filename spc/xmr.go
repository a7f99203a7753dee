package spc

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Wheeler's scaling factors for an XmR chart (moving ranges of two values).
const (
	// NPLFactor turns the average moving range into the distance from the
	// centre line to a natural process limit (3/d2, d2 = 1.128).
	NPLFactor = 2.66
	// URLFactor turns the average moving range into the upper range limit
	// (D4 for n = 2).
	URLFactor = 3.268
)

const (
	// DefaultBaselineN is how many values a locked baseline takes from the
	// start of its segment when neither a count nor a time range is given.
	// Wheeler: limits from 20 or so values are about as good as they get;
	// more data adds little certainty.
	DefaultBaselineN = 20
	// MinFirmBaseline is the fewest values whose limits are not flagged
	// provisional. Wheeler: useful limits can be had from as few as five or
	// six values, but they are soft and should be revised as data arrive.
	MinFirmBaseline = 6
	// RunLength is how many successive values on one side of the centre line
	// make a run (detection rule 3, and the sustained-shift test).
	RunLength = 8
	// MaxAbsValue bounds the magnitude of a value. No KPI comes near it; the
	// bound keeps every sum, difference and limit finite, so a chart always
	// encodes as JSON (encoding/json refuses ±Inf and NaN).
	MaxAbsValue = 1e100
)

// ErrInvalid is wrapped by every error this package returns for bad input,
// so a handler can map it to a 400/422 with errors.Is.
var ErrInvalid = errors.New("spc: invalid input")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Point is one observed value of a KPI, in time order.
type Point struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	// ID identifies the measurement so a signal can point back at it.
	ID string `json:"id,omitempty"`
}

// Baseline says which values of a segment its limits come from.
//
// Unlocked (the default), the limits use every value of the segment and are
// recomputed as values arrive: early on that is what Wheeler recommends
// (revise soft limits as data accumulate), and it means a chart never waits
// for a configuration step before it shows limits. N, From and To are then
// ignored.
//
// Locked, the limits come only from the baseline values, and later values are
// judged against them without moving them: that is what makes a signal in
// month 30 mean "different from how the process behaved in months 1–20". The
// baseline is the values with From ≤ at < To when either bound is set (capped
// to the first N of them when N > 0), otherwise the first N values of the
// segment (DefaultBaselineN when N is 0). A locked baseline with fewer than
// two values yields no limits.
type Baseline struct {
	N      int       `json:"n,omitempty"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
	Locked bool      `json:"locked,omitempty"`
}

func (b Baseline) validate(field string) error {
	switch {
	case b.N < 0:
		return invalid("%s.n must not be negative", field)
	case b.N == 1:
		return invalid("%s.n must be at least 2: limits need one moving range", field)
	case !b.From.IsZero() && !b.To.IsZero() && !b.From.Before(b.To):
		return invalid("%s: from must be before to", field)
	}
	return nil
}

func (b Baseline) ranged() bool { return !b.From.IsZero() || !b.To.IsZero() }

// Divider starts a new segment, with new limits, after a deliberate change to
// the process. It sits at a time (the first value at or after At opens the
// new segment) or, when At is zero, at a point index. A divider after the last
// value does nothing yet; one at or before the first value only sets the
// first segment's label and baseline.
type Divider struct {
	At    time.Time `json:"at,omitzero"`
	Index int       `json:"index,omitempty"`
	// Label says what changed, e.g. "Kaizen KZ-12 standardised".
	Label string `json:"label,omitempty"`
	// Baseline is the baseline of the segment this divider starts.
	Baseline Baseline `json:"baseline"`
}

// Options configure a chart.
type Options struct {
	// Baseline is the first segment's baseline.
	Baseline Baseline `json:"baseline"`
	// Dividers start later segments; their order does not matter.
	Dividers []Divider `json:"dividers,omitempty"`
	// Rules sets each detection rule's severity; rules left out take
	// DefaultRules' severity.
	Rules Rules `json:"rules,omitempty"`
}

// Limits are one segment's centre line and natural process limits.
// LNPL ≤ CL ≤ UNPL and 0 ≤ MRBar ≤ URL always hold.
type Limits struct {
	CL    float64 `json:"cl"`
	UNPL  float64 `json:"unpl"`
	LNPL  float64 `json:"lnpl"`
	MRBar float64 `json:"mr_bar"`
	URL   float64 `json:"url"`
	// BaselineFrom and BaselineTo are the times of the first and last value
	// the limits were computed from (both inclusive).
	BaselineFrom time.Time `json:"baseline_from,omitzero"`
	BaselineTo   time.Time `json:"baseline_to,omitzero"`
	// N is how many values the limits were computed from.
	N      int  `json:"n"`
	Locked bool `json:"locked"`
	// Provisional is set when N < MinFirmBaseline: usable, but soft.
	Provisional bool `json:"provisional"`
}

// UpperHalfway is the line halfway between CL and UNPL (1.5 sigma): a value
// above it is closer to the upper limit than to the centre line.
func (l Limits) UpperHalfway() float64 { return l.CL + (l.UNPL-l.CL)/2 }

// LowerHalfway is the line halfway between CL and LNPL.
func (l Limits) LowerHalfway() float64 { return l.CL - (l.CL-l.LNPL)/2 }

// ComputeLimits computes XmR limits from baseline values in time order. It
// needs at least two values (one moving range). The result has no baseline
// times and is not locked: Compute fills those in.
func ComputeLimits(values []float64) (Limits, error) {
	if len(values) < 2 {
		return Limits{}, invalid("limits need at least 2 values, got %d", len(values))
	}
	if err := checkValues(values); err != nil {
		return Limits{}, err
	}
	cl := mean(values)
	var sum float64
	for i := 1; i < len(values); i++ {
		sum += math.Abs(values[i] - values[i-1])
	}
	mrBar := sum / float64(len(values)-1)
	return Limits{
		CL:          cl,
		UNPL:        cl + NPLFactor*mrBar,
		LNPL:        cl - NPLFactor*mrBar,
		MRBar:       mrBar,
		URL:         URLFactor * mrBar,
		N:           len(values),
		Provisional: len(values) < MinFirmBaseline,
	}, nil
}

// mean is the arithmetic mean clamped to [min, max]: a sum rounds, and a
// series of identical values must have exactly that value as its centre line,
// or its own values would fall outside zero-width limits.
func mean(values []float64) float64 {
	lo, hi, sum := values[0], values[0], 0.0
	for _, v := range values {
		sum += v
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	return math.Min(math.Max(sum/float64(len(values)), lo), hi)
}

func checkValues(values []float64) error {
	for i, v := range values {
		if err := checkValue(v); err != nil {
			return fmt.Errorf("value %d: %w", i, err)
		}
	}
	return nil
}

func checkValue(v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return invalid("value must be a finite number")
	}
	if math.Abs(v) > MaxAbsValue {
		return invalid("value %g is beyond ±%g", v, MaxAbsValue)
	}
	return nil
}

// ChartPoint is a value as charted.
type ChartPoint struct {
	Index int       `json:"index"`
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
	ID    string    `json:"id,omitempty"`
	// MR is the moving range from the previous value of the same segment;
	// null for the first value of a segment.
	MR      *float64 `json:"mr"`
	Segment int      `json:"segment"`
	// Baseline is set when the value went into its segment's limits.
	Baseline bool `json:"baseline"`
}

// Segment is a run of points between dividers, with its own limits.
type Segment struct {
	Index int `json:"index"`
	// First and Last are the indexes of its first and last point.
	First int `json:"first"`
	Last  int `json:"last"`
	// Start is the divider's time, or the first point's time when the
	// segment was started by index or is the first segment.
	Start time.Time `json:"start"`
	Label string    `json:"label,omitempty"`
	// Limits is null when the segment's baseline has fewer than two values.
	Limits *Limits `json:"limits"`
}

// Chart is an XmR chart: what GET /v1/kpis/{key}/chart serves and what the
// chart package draws.
type Chart struct {
	Points   []ChartPoint `json:"points"`
	Segments []Segment    `json:"segments"`
	// Signals are in point order, and in rule order at one point.
	Signals []Signal `json:"signals"`
}

// Compute builds the XmR chart of points, which must be in time order (ties
// allowed). It splits the points at the dividers, computes each segment's
// limits from its baseline and applies the detection rules within each
// segment. Errors wrap ErrInvalid.
func Compute(points []Point, opts Options) (Chart, error) {
	c := Chart{Points: []ChartPoint{}, Segments: []Segment{}, Signals: []Signal{}}
	if err := opts.Rules.Validate(); err != nil {
		return c, err
	}
	if err := opts.Baseline.validate("baseline"); err != nil {
		return c, err
	}
	for i, p := range points {
		if err := checkValue(p.Value); err != nil {
			return c, fmt.Errorf("point %d: %w", i, err)
		}
		if i > 0 && p.At.Before(points[i-1].At) {
			return c, invalid("point %d is earlier than point %d: points must be in time order", i, i-1)
		}
	}
	segs, err := segments(points, opts)
	if err != nil {
		return c, err
	}
	for i, p := range points {
		c.Points = append(c.Points, ChartPoint{Index: i, At: p.At, Value: p.Value, ID: p.ID})
	}
	for k, s := range segs {
		seg := Segment{Index: k, First: s.first, Last: s.last, Start: s.start, Label: s.label}
		for i := s.first; i <= s.last; i++ {
			c.Points[i].Segment = k
			if i > s.first {
				mr := math.Abs(points[i].Value - points[i-1].Value)
				c.Points[i].MR = &mr
			}
		}
		lo, hi := baselineRange(points, s.first, s.last, s.baseline)
		if hi-lo >= 2 {
			values := make([]float64, 0, hi-lo)
			for i := lo; i < hi; i++ {
				values = append(values, points[i].Value)
				c.Points[i].Baseline = true
			}
			l, err := ComputeLimits(values)
			if err != nil {
				return c, fmt.Errorf("segment %d: %w", k, err)
			}
			l.BaselineFrom, l.BaselineTo = points[lo].At, points[hi-1].At
			l.Locked = s.baseline.Locked
			seg.Limits = &l
			c.Signals = append(c.Signals, detect(c.Points, seg, opts.Rules)...)
		}
		c.Segments = append(c.Segments, seg)
	}
	return c, nil
}

type span struct {
	first, last int
	start       time.Time
	label       string
	baseline    Baseline
}

// segments resolves the dividers to point indexes and returns the
// non-empty segments in order.
func segments(points []Point, opts Options) ([]span, error) {
	n := len(points)
	type cut struct {
		idx int
		d   Divider
	}
	var cuts []cut
	for i, d := range opts.Dividers {
		field := fmt.Sprintf("dividers[%d]", i)
		if err := d.Baseline.validate(field + ".baseline"); err != nil {
			return nil, err
		}
		var idx int
		switch {
		case !d.At.IsZero():
			idx = sort.Search(n, func(j int) bool { return !points[j].At.Before(d.At) })
		case d.Index > 0:
			idx = d.Index
		case d.Index < 0:
			return nil, invalid("%s.index must not be negative", field)
		default:
			return nil, invalid("%s needs a time (at) or a point index greater than 0", field)
		}
		if idx < n {
			cuts = append(cuts, cut{idx, d})
		}
	}
	if n == 0 {
		return nil, nil
	}
	// Stable: of two dividers at the same point, the later one listed wins.
	sort.SliceStable(cuts, func(a, b int) bool { return cuts[a].idx < cuts[b].idx })

	var out []span
	cur := span{first: 0, start: points[0].At, baseline: opts.Baseline}
	for _, c := range cuts {
		if c.idx > cur.first {
			cur.last = c.idx - 1
			out = append(out, cur)
			cur = span{first: c.idx, start: points[c.idx].At}
		}
		if !c.d.At.IsZero() && c.idx > 0 {
			cur.start = c.d.At
		}
		cur.label, cur.baseline = c.d.Label, c.d.Baseline
	}
	cur.last = n - 1
	return append(out, cur), nil
}

// baselineRange returns the half-open range [lo, hi) of point indexes in the
// segment [first, last] that its limits are computed from.
func baselineRange(points []Point, first, last int, b Baseline) (lo, hi int) {
	end := last + 1
	if !b.Locked {
		return first, end
	}
	if !b.ranged() {
		n := b.N
		if n == 0 {
			n = DefaultBaselineN
		}
		return first, min(end, first+n)
	}
	lo, hi = first, end
	if !b.From.IsZero() {
		lo = first + sort.Search(end-first, func(j int) bool { return !points[first+j].At.Before(b.From) })
	}
	if !b.To.IsZero() {
		hi = lo + sort.Search(end-lo, func(j int) bool { return !points[lo+j].At.Before(b.To) })
	}
	if b.N > 0 && hi-lo > b.N {
		hi = lo + b.N
	}
	return lo, hi
}
