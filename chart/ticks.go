package chart

import (
	"time"

	"gonum.org/v1/plot"
)

// timeTicks puts date ticks on calendar boundaries (the first of a month,
// of a quarter, of a year) rather than at round numbers of seconds, which
// is what gonum's TimeTicks does and which reads as arbitrary dates.
type timeTicks struct {
	loc *time.Location
	// max is the most labelled ticks that fit the width.
	max int
	// noLabels keeps the tick marks but drops the text: the value panel
	// above the mR panel shares the latter's dates.
	noLabels bool
}

// tickStep is one candidate spacing: a number of hours, days, months or
// years, and how to label it.
type tickStep struct {
	hours, days, months, years int
	format                     string
}

func (s tickStep) approx() time.Duration {
	return time.Duration(s.hours)*time.Hour + time.Duration(s.days)*24*time.Hour +
		time.Duration(s.months)*30*24*time.Hour + time.Duration(s.years)*365*24*time.Hour
}

// floor is the last boundary of the step at or before t.
func (s tickStep) floor(t time.Time) time.Time {
	y, m, d := t.Date()
	switch {
	case s.years > 0:
		return time.Date(y-mod(y, s.years), time.January, 1, 0, 0, 0, 0, t.Location())
	case s.months > 0:
		return time.Date(y, m-time.Month(mod(int(m)-1, s.months)), 1, 0, 0, 0, 0, t.Location())
	case s.days >= 7:
		// Weeks start on Monday (ISO 8601), as weekly KPIs do.
		back := mod(int(t.Weekday())-int(time.Monday), 7)
		return time.Date(y, m, d-back, 0, 0, 0, 0, t.Location())
	case s.days > 0:
		return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
	}
	return time.Date(y, m, d, t.Hour()-mod(t.Hour(), s.hours), 0, 0, 0, t.Location())
}

func (s tickStep) next(t time.Time) time.Time {
	if s.hours > 0 {
		return t.Add(time.Duration(s.hours) * time.Hour)
	}
	return t.AddDate(s.years, s.months, s.days)
}

func mod(a, b int) int { return ((a % b) + b) % b }

func tickSteps() []tickStep {
	const hm, dm, my, y = "2 Jan 15:04", "2 Jan 2006", "Jan 2006", "2006"
	return []tickStep{
		{hours: 1, format: hm}, {hours: 3, format: hm}, {hours: 6, format: hm}, {hours: 12, format: hm},
		{days: 1, format: dm}, {days: 2, format: dm}, {days: 7, format: dm}, {days: 14, format: dm},
		{months: 1, format: my}, {months: 2, format: my}, {months: 3, format: my}, {months: 6, format: my},
		{years: 1, format: y}, {years: 2, format: y}, {years: 5, format: y}, {years: 10, format: y},
		{years: 20, format: y}, {years: 50, format: y}, {years: 100, format: y},
	}
}

// Ticks implements plot.Ticker over Unix seconds.
func (t timeTicks) Ticks(lo, hi float64) []plot.Tick {
	from, to := time.Unix(int64(lo), 0).In(t.loc), time.Unix(int64(hi), 0).In(t.loc)
	span := to.Sub(from)
	for _, s := range tickSteps() {
		// Skip steps that would obviously give too many ticks before
		// generating any, so a century at hourly steps costs nothing.
		if span/s.approx() > time.Duration(2*t.max) {
			continue
		}
		var ticks []plot.Tick
		for tt := s.floor(from); !tt.After(to); tt = s.next(tt) {
			if tt.Before(from) {
				continue
			}
			label := tt.Format(s.format)
			if t.noLabels {
				label = ""
			}
			ticks = append(ticks, plot.Tick{Value: float64(tt.Unix()), Label: label})
			if len(ticks) > t.max {
				break
			}
		}
		if len(ticks) >= 2 && len(ticks) <= t.max {
			return ticks
		}
	}
	// A span too short for two hourly ticks: label its ends.
	ticks := []plot.Tick{{Value: lo}, {Value: hi}}
	if !t.noLabels {
		ticks[0].Label, ticks[1].Label = from.Format("2 Jan 15:04"), to.Format("2 Jan 15:04")
	}
	return ticks
}
