// Package kpichart puts a KPI's definition and its measurements on an XmR
// chart: the options its spec sets (baseline, dividers, rule severities),
// the breaches its watch acts on, the RAG status a report shows, the
// sustained-shift verdict a Kaizen or CAPA cites, and the picture.
//
// It is the one place that translates between the domain (opsflow, which
// imports nothing but the standard library) and the statistics (spc) and
// drawing (chart) packages, so the API, the activities and the report
// judge a KPI the same way. Everything here is a pure function.
package kpichart

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/chart"
	"github.com/opsflow/opsflow/spc"
)

func baseline(b opsflow.ChartBaseline) spc.Baseline {
	out := spc.Baseline{Locked: b.Locked, N: b.N}
	if b.From != nil {
		out.From = b.From.UTC()
	}
	if b.To != nil {
		out.To = b.To.UTC()
	}
	return out
}

// Options are the spc options of a definition: its baseline, its
// dividers and its rules' severities.
func Options(d opsflow.KPIDefinition) spc.Options {
	o := spc.Options{Baseline: baseline(d.Spec.Baseline), Rules: spc.Rules{}}
	for _, name := range opsflow.ChartRuleNames {
		o.Rules[spc.Rule(name)] = spc.Severity(d.Spec.Rules.Severity(name))
	}
	for _, div := range d.Dividers {
		o.Dividers = append(o.Dividers, spc.Divider{At: div.At.UTC(), Label: div.Label, Baseline: baseline(div.Baseline)})
	}
	return o
}

// Points turns measurements into chart points in time order (then by ID,
// so equal times order the same way every time).
func Points(ms []opsflow.Measurement) []spc.Point {
	sorted := slices.Clone(ms)
	sort.SliceStable(sorted, func(i, j int) bool {
		if !sorted[i].At.Equal(sorted[j].At) {
			return sorted[i].At.Before(sorted[j].At)
		}
		return sorted[i].ID < sorted[j].ID
	})
	out := make([]spc.Point, len(sorted))
	for i, m := range sorted {
		out[i] = spc.Point{At: m.At.UTC(), Value: m.Value, ID: m.ID}
	}
	return out
}

// Build computes the XmR chart of a KPI's measurements.
func Build(d opsflow.KPIDefinition, ms []opsflow.Measurement) (spc.Chart, error) {
	c, err := spc.Compute(Points(ms), Options(d))
	if err != nil {
		return c, fmt.Errorf("chart of kpi %s: %w", d.Key, err)
	}
	return c, nil
}

// Breaches are the chart's unfavourable violations on points isNew
// accepts, in point order: what the KPI's policy acts on. Warnings,
// ignored rules, favourable signals and old points are not breaches, and
// neither is a signal against provisional limits (a segment of fewer than
// spc.MinFirmBaseline values, as a new KPI or the first months after a
// standardised Kaizen has): the chart shows it, but limits that soft would
// open CAPAs on noise. The points judged while the limits were soft stay
// judged; the watch acts on the points that follow.
func Breaches(d opsflow.KPIDefinition, c spc.Chart, isNew func(pointID string) bool) []opsflow.KPIBreach {
	var out []opsflow.KPIBreach
	dir := spc.Direction(d.Direction)
	for _, s := range c.Signals {
		if s.Severity != spc.Violation || !spc.Unfavourable(s, dir) || !isNew(s.PointID) {
			continue
		}
		l := c.Segments[s.Segment].Limits
		if l == nil || l.Provisional {
			continue
		}
		out = append(out, opsflow.KPIBreach{Rule: string(s.Rule), Severity: string(s.Severity), Side: string(s.Side), PointID: s.PointID,
			At: s.At.UTC(), Value: s.Value, Threshold: s.Threshold,
			CL: l.CL, UNPL: l.UNPL, LNPL: l.LNPL,
			BaselineFrom: l.BaselineFrom.UTC(), BaselineTo: l.BaselineTo.UTC(), BaselineN: l.N})
	}
	return out
}

// Seen lists the signals of the chart that fired on points dated in
// [from, to), as a status judges them.
func Seen(d opsflow.KPIDefinition, c spc.Chart, from, to time.Time) []opsflow.SignalSeen {
	out := []opsflow.SignalSeen{}
	for _, s := range c.Signals {
		if s.At.Before(from) || !s.At.Before(to) {
			continue
		}
		out = append(out, opsflow.SignalSeen{Rule: string(s.Rule), Severity: string(s.Severity),
			Unfavourable: spc.Unfavourable(s, spc.Direction(d.Direction)), At: s.At.UTC(), PointID: s.PointID})
	}
	return out
}

// PeriodStatus is the KPI's status over [from, to): the mean of its
// values there against the target in effect at the period's end, the
// thresholds, and the signals on those values.
func PeriodStatus(d opsflow.KPIDefinition, c spc.Chart, from, to time.Time) opsflow.KPIStatus {
	var sum float64
	n := 0
	for _, p := range c.Points {
		if !p.At.Before(from) && p.At.Before(to) {
			sum += p.Value
			n++
		}
	}
	var actual, target *float64
	if n > 0 {
		v := opsflow.Round4(sum / float64(n))
		actual = &v
	}
	if t := d.Target(to.Add(-time.Nanosecond)); t != nil {
		v := t.Value
		target = &v
	}
	return opsflow.Status(d.Direction, actual, n, target, d.Spec.Thresholds, Seen(d, c, from, to))
}

// LatestStatus is the status of the newest value alone: where the KPI
// stands now.
func LatestStatus(d opsflow.KPIDefinition, c spc.Chart) opsflow.KPIStatus {
	if len(c.Points) == 0 {
		return opsflow.Status(d.Direction, nil, 0, nil, d.Spec.Thresholds, nil)
	}
	last := c.Points[len(c.Points)-1].At
	return PeriodStatus(d, c, last, last.Add(time.Nanosecond))
}

// Shift judges the values dated in [from, to) — a Kaizen's check window or
// follow-up period, a CAPA's effectiveness window — against the process as
// it was before beforeEnd (from, when zero: a follow-up compares with the
// process before the Kaizen, not with its own check window), and says
// whether the chart shows a sustained shift and which way
// (spc.SustainedShift).
//
// "Before" is the limits of the segment the last value before beforeEnd
// belongs to, computed only from its values before beforeEnd (so the
// values judged never move the line they are judged against), or its
// locked limits when they rest on earlier values. When a divider starts a
// new segment between the two (a standardised change), the judged values
// are a new segment and the test that its centre line lies beyond the old
// limits applies too.
func Shift(d opsflow.KPIDefinition, c spc.Chart, beforeEnd, from, to time.Time) (*opsflow.ShiftVerdict, error) {
	if beforeEnd.IsZero() || beforeEnd.After(from) {
		beforeEnd = from
	}
	var after []float64
	first, lastBefore := -1, -1
	for i, p := range c.Points {
		if p.At.Before(beforeEnd) {
			lastBefore = i
		}
		if !p.At.Before(from) && p.At.Before(to) {
			if first < 0 {
				first = i
			}
			after = append(after, p.Value)
		}
	}
	var before spc.Limits
	newSegment := false
	if lastBefore >= 0 {
		seg := c.Segments[c.Points[lastBefore].Segment]
		newSegment = first >= 0 && c.Points[first].Segment != seg.Index
		if l := seg.Limits; l != nil && l.Locked && !l.BaselineTo.After(c.Points[lastBefore].At) {
			before = *l
		} else {
			var vals []float64
			for i := seg.First; i <= lastBefore; i++ {
				vals = append(vals, c.Points[i].Value)
			}
			if len(vals) >= 2 {
				l, err := spc.ComputeLimits(vals)
				if err != nil {
					return nil, fmt.Errorf("limits before %s: %w", from.Format(time.RFC3339), err)
				}
				before = l
			}
		}
	}
	if after == nil {
		after = []float64{}
	}
	s, err := spc.SustainedShift(before, after, spc.Direction(d.Direction), newSegment)
	if err != nil {
		return nil, fmt.Errorf("sustained shift of kpi %s: %w", d.Key, err)
	}
	v := &opsflow.ShiftVerdict{KPI: d.Key, Verdict: string(s.Verdict), Rule: s.Rule, BeforeCL: opsflow.Round4(s.BeforeCL),
		BeforeUNPL: opsflow.Round4(s.BeforeUNPL), BeforeLNPL: opsflow.Round4(s.BeforeLNPL), BeforeN: before.N,
		After: s.After, Favourable: s.Favourable, Unfavourable: s.Unfavourable,
		LongestFavourableRun: s.LongestFavourableRun, NewSegment: newSegment}
	if s.AfterCL != nil {
		cl := opsflow.Round4(*s.AfterCL)
		v.AfterCL = &cl
	}
	v.Sentence = sentence(v)
	return v, nil
}

func sentence(v *opsflow.ShiftVerdict) string {
	switch {
	case v.BeforeN < 2:
		return "no earlier values to compare with: the chart cannot judge a shift yet"
	case v.Verdict == string(spc.InsufficientData):
		return fmt.Sprintf("%d values after the change, %d on the good side of the old centre line %v: too few to judge a sustained shift (a run needs %d)",
			v.After, v.Favourable, v.BeforeCL, spc.RunLength)
	case v.Rule == spc.CentreLineBeyondLimits:
		way := "the good way"
		if v.Verdict == string(spc.ShiftedUnfavourably) {
			way = "the bad way"
		}
		return fmt.Sprintf("sustained shift %s: the new centre line %v lies beyond the old limits %v–%v", way, *v.AfterCL, v.BeforeLNPL, v.BeforeUNPL)
	case v.Verdict == string(spc.ShiftedFavourably):
		return fmt.Sprintf("sustained shift the good way: %d values in a row on the good side of the old centre line %v (%d of %d after the change)",
			v.LongestFavourableRun, v.BeforeCL, v.Favourable, v.After)
	case v.Verdict == string(spc.ShiftedUnfavourably):
		return fmt.Sprintf("sustained shift the bad way: %d in a row on the bad side of the old centre line %v", spc.RunLength, v.BeforeCL)
	}
	return fmt.Sprintf("no sustained shift: %d of %d values on the good side of the old centre line %v, the longest run %d",
		v.Favourable, v.After, v.BeforeCL, v.LongestFavourableRun)
}

// Crop keeps the chart's points dated from on, as a report's 12-month
// window shows them. Limits and signals are those of the whole chart: the
// window shows the same judgement, not a new one computed from less.
func Crop(c spc.Chart, from time.Time) spc.Chart {
	k := sort.Search(len(c.Points), func(i int) bool { return !c.Points[i].At.Before(from) })
	if k == 0 {
		return c
	}
	out := spc.Chart{Points: []spc.ChartPoint{}, Segments: []spc.Segment{}, Signals: []spc.Signal{}}
	segMap := map[int]int{}
	for _, s := range c.Segments {
		if s.Last < k {
			continue
		}
		ns := s
		ns.Index = len(out.Segments)
		if s.First < k {
			ns.Start = c.Points[k].At // the window starts the picture
		}
		ns.First = max(s.First, k) - k
		ns.Last = s.Last - k
		segMap[s.Index] = ns.Index
		out.Segments = append(out.Segments, ns)
	}
	for _, p := range c.Points[k:] {
		p.Index -= k
		p.Segment = segMap[p.Segment]
		out.Points = append(out.Points, p)
	}
	for _, s := range c.Signals {
		if s.Index < k {
			continue
		}
		ns := s
		ns.Index -= k
		ns.Segment = segMap[s.Segment]
		ns.Points = nil
		for _, i := range s.Points {
			if i >= k {
				ns.Points = append(ns.Points, i-k)
			}
		}
		out.Signals = append(out.Signals, ns)
	}
	return out
}

// RenderOptions are what a picture of a KPI's chart may change.
type RenderOptions struct {
	Width, Height int
	MovingRange   bool
	Title         string // the KPI's name when empty
	Location      *time.Location
}

// Render draws the chart with the KPI's name, unit, direction and the
// target in effect at its last value (or now, without values).
func Render(w io.Writer, format chart.Format, d opsflow.KPIDefinition, c spc.Chart, o RenderOptions, now time.Time) error {
	at := now
	if n := len(c.Points); n > 0 {
		at = c.Points[n-1].At
	}
	opts := chart.Options{Title: o.Title, Unit: d.Unit, Direction: spc.Direction(d.Direction),
		Width: o.Width, Height: o.Height, MovingRange: o.MovingRange, Location: o.Location}
	if opts.Title == "" {
		opts.Title = d.Name
	}
	if t := d.Target(at); t != nil {
		v := t.Value
		opts.Target = &v
	}
	if err := chart.Render(w, format, c, opts); err != nil {
		return fmt.Errorf("render kpi %s: %w", d.Key, err)
	}
	return nil
}
