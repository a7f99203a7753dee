package spc

import "time"

// Rule names one of Wheeler's detection rules (the Western Electric zone
// tests as he presents them for process behaviour charts).
type Rule string

const (
	// BeyondLimits: a value above UNPL or below LNPL.
	BeyondLimits Rule = "beyond_limits"
	// ThreeOfFour: three of four successive values closer to the same limit
	// than to the centre line, i.e. beyond the halfway (1.5 sigma) line.
	ThreeOfFour Rule = "three_of_four"
	// EightOnOneSide: eight successive values on the same side of the centre
	// line. A value exactly on the centre line ends the run.
	EightOnOneSide Rule = "eight_on_one_side"
	// MRAboveURL: a moving range above the upper range limit, i.e. a sudden
	// jump between two successive values.
	MRAboveURL Rule = "mr_above_url"
)

// rules lists the rules in the order signals at one point are reported.
func rules() [4]Rule { return [4]Rule{BeyondLimits, ThreeOfFour, EightOnOneSide, MRAboveURL} }

// Severity is what a KPI owner wants a rule to mean.
type Severity string

const (
	// Violation is a signal to act on: the breach policy (alert, open a
	// Kaizen, open a CAPA) applies.
	Violation Severity = "violation"
	// Warning is shown on the chart and in reports but triggers nothing.
	Warning Severity = "warning"
	// Ignore turns the rule off.
	Ignore Severity = "ignore"
)

// Rules maps each rule to its severity for one KPI. A rule left out takes
// its DefaultRules severity, so a nil Rules is the default configuration.
type Rules map[Rule]Severity

// DefaultRules returns a fresh copy of the default severities: a point
// beyond the limits is a violation; the run tests and the moving-range test
// are warnings, because each extra rule adds false alarms and Wheeler ranks
// rule 1 as the one signal that needs no corroboration.
func DefaultRules() Rules {
	return Rules{
		BeyondLimits:   Violation,
		ThreeOfFour:    Warning,
		EightOnOneSide: Warning,
		MRAboveURL:     Warning,
	}
}

// Severity returns the severity configured for rule, or its default.
func (r Rules) Severity(rule Rule) Severity {
	if s, ok := r[rule]; ok {
		return s
	}
	return DefaultRules()[rule]
}

// Validate rejects unknown rules and severities.
func (r Rules) Validate() error {
	for rule, sev := range r {
		known := false
		for _, k := range rules() {
			known = known || rule == k
		}
		if !known {
			return invalid("unknown rule %q (want beyond_limits, three_of_four, eight_on_one_side or mr_above_url)", rule)
		}
		if sev != Violation && sev != Warning && sev != Ignore {
			return invalid("rule %s: unknown severity %q (want violation, warning or ignore)", rule, sev)
		}
	}
	return nil
}

// Side says which side of the centre line a signal is on. For MRAboveURL it
// is the direction of the jump: Above when the value rose.
type Side string

const (
	Above Side = "above"
	Below Side = "below"
)

// Signal is one detection rule firing.
type Signal struct {
	Rule     Rule     `json:"rule"`
	Severity Severity `json:"severity"`
	// Index, At and PointID identify the point the signal fires on: the
	// point that completes the pattern.
	Index   int       `json:"index"`
	At      time.Time `json:"at"`
	PointID string    `json:"point_id,omitempty"`
	// Points are the indexes of the points that make up the pattern, in
	// order: the point itself; the three or four beyond the halfway line;
	// the last eight of a run; the two ends of a moving range.
	Points  []int `json:"points"`
	Side    Side  `json:"side"`
	Segment int   `json:"segment"`
	// Value is the value judged: the point's value, or for MRAboveURL its
	// moving range. Threshold is the line it crossed (UNPL/LNPL, the
	// halfway line, the centre line, or URL).
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// Run is the length of the run so far, for EightOnOneSide.
	Run int `json:"run,omitempty"`
}

// detect applies the rules to one segment whose Limits are set. A rule
// fires at every point that completes its pattern, so a run of ten on one
// side fires at its 8th, 9th and 10th points: a monthly check that looks only
// at the newest point still sees a shift that persists. Callers that want
// one alert per episode can group by rule and Points[0].
func detect(pts []ChartPoint, seg Segment, cfg Rules) []Signal {
	l := *seg.Limits
	upHalf, loHalf := l.UpperHalfway(), l.LowerHalfway()
	sev := map[Rule]Severity{}
	for _, r := range rules() {
		sev[r] = cfg.Severity(r)
	}
	var out []Signal
	emit := func(r Rule, i int, side Side, involved []int, value, threshold float64, run int) {
		if sev[r] == Ignore {
			return
		}
		out = append(out, Signal{
			Rule: r, Severity: sev[r], Index: i, At: pts[i].At, PointID: pts[i].ID,
			Points: involved, Side: side, Segment: seg.Index,
			Value: value, Threshold: threshold, Run: run,
		})
	}

	runSide, runStart := 0, seg.First
	for i := seg.First; i <= seg.Last; i++ {
		x := pts[i].Value

		// Rule 1: a point beyond a natural process limit.
		switch {
		case x > l.UNPL:
			emit(BeyondLimits, i, Above, []int{i}, x, l.UNPL, 0)
		case x < l.LNPL:
			emit(BeyondLimits, i, Below, []int{i}, x, l.LNPL, 0)
		}

		// Rule 2: three of the last four points (fewer at the start of a
		// segment) beyond the same halfway line. The point itself must be
		// one of them; otherwise the window ending at the previous point
		// already fired with the same three.
		from := max(seg.First, i-3)
		if x > upHalf {
			if in := collect(pts, from, i, func(v float64) bool { return v > upHalf }); len(in) >= 3 {
				emit(ThreeOfFour, i, Above, in, x, upHalf, 0)
			}
		} else if x < loHalf {
			if in := collect(pts, from, i, func(v float64) bool { return v < loHalf }); len(in) >= 3 {
				emit(ThreeOfFour, i, Below, in, x, loHalf, 0)
			}
		}

		// Rule 3: eight successive points on one side of the centre line.
		side := 0
		if x > l.CL {
			side = 1
		} else if x < l.CL {
			side = -1
		}
		if side != runSide {
			runSide, runStart = side, i
		}
		if run := i - runStart + 1; runSide != 0 && run >= RunLength {
			in := make([]int, 0, RunLength)
			for j := i - RunLength + 1; j <= i; j++ {
				in = append(in, j)
			}
			emit(EightOnOneSide, i, sideName(runSide), in, x, l.CL, run)
		}

		// Rule 4: a moving range above the upper range limit. The segment's
		// first point has no moving range: ranges never span a divider.
		if mr := pts[i].MR; mr != nil && *mr > l.URL {
			jump := Above
			if x < pts[i-1].Value {
				jump = Below
			}
			emit(MRAboveURL, i, jump, []int{i - 1, i}, *mr, l.URL, 0)
		}
	}
	return out
}

func collect(pts []ChartPoint, from, to int, beyond func(float64) bool) []int {
	var in []int
	for j := from; j <= to; j++ {
		if beyond(pts[j].Value) {
			in = append(in, j)
		}
	}
	return in
}

func sideName(s int) Side {
	if s > 0 {
		return Above
	}
	return Below
}

// Direction says which way a KPI improves. The values match the domain's
// opsflow.Direction, so spc.Direction(kpi.Direction) converts.
type Direction string

const (
	HigherIsBetter Direction = "higher"
	LowerIsBetter  Direction = "lower"
)

// Valid reports whether d is one of the two directions.
func (d Direction) Valid() bool { return d == HigherIsBetter || d == LowerIsBetter }

// sign is +1 when higher is better and −1 when lower is; 0 when unknown.
func (d Direction) sign() float64 {
	switch d {
	case HigherIsBetter:
		return 1
	case LowerIsBetter:
		return -1
	}
	return 0
}

// Unfavourable reports whether a signal points the bad way for a KPI that
// improves in direction d: a point below the limits of a higher-is-better
// KPI, or a jump up in a lower-is-better one. A favourable signal is still a
// signal (something changed, and it is worth knowing why), but it is not a
// breach. With an unknown direction every signal counts as unfavourable, so a
// misconfigured KPI errs towards an alert rather than silence.
func Unfavourable(s Signal, d Direction) bool {
	switch d.sign() {
	case 1:
		return s.Side == Below
	case -1:
		return s.Side == Above
	}
	return true
}

// better reports whether a is strictly better than b in direction d.
func (d Direction) better(a, b float64) bool { return d.sign()*(a-b) > 0 }
