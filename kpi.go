package opsflow

import (
	"math"
	"regexp"
	"strings"
	"time"
)

// Direction says which way a KPI improves.
type Direction string

const (
	HigherIsBetter Direction = "higher" // e.g. first-pass yield
	LowerIsBetter  Direction = "lower"  // e.g. lead time, scrap rate
)

// sign is +1 when higher is better and -1 when lower is: multiplying a
// difference by it turns "better" into "positive" for either direction.
func (d Direction) sign() float64 {
	if d == LowerIsBetter {
		return -1
	}
	return 1
}

// Better reports whether a is strictly better than b.
func (d Direction) Better(a, b float64) bool { return d.sign()*(a-b) > 0 }

// KPI is a key performance indicator in the registry. It is the definition
// only: measurements are separate rows, and what a later issue adds
// (targets, RAG thresholds, control limits, breach policies) hangs off the
// key in tables of its own, so this shape need not change.
type KPI struct {
	Key         string    `json:"key" db:"key"`
	Name        string    `json:"name" db:"name"`
	Description string    `json:"description,omitempty" db:"description"`
	Unit        string    `json:"unit" db:"unit"`
	Direction   Direction `json:"direction" db:"direction"`
	OwnerID     string    `json:"owner" db:"owner_id"`
	CreatedBy   string    `json:"created_by" db:"created_by"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
}

var kpiKey = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// Validate checks a KPI definition as a client sends it.
func (k KPI) Validate() error {
	switch {
	case !kpiKey.MatchString(k.Key):
		return Invalid("key", "key must be 1–63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	case strings.TrimSpace(k.Name) == "":
		return Invalid("name", "name is required")
	case len(k.Name) > 200:
		return Invalid("name", "name must be at most 200 characters")
	case strings.TrimSpace(k.Unit) == "":
		return Invalid("unit", "unit is required (e.g. %%, minutes, defects per 1000)")
	case k.Direction != HigherIsBetter && k.Direction != LowerIsBetter:
		return Invalid("direction", "direction must be %q or %q (which way is better)", HigherIsBetter, LowerIsBetter)
	case strings.TrimSpace(k.OwnerID) == "":
		return Invalid("owner", "owner is required")
	}
	return nil
}

// ValidKPIKey reports whether s is a well-formed KPI key.
func ValidKPIKey(s string) bool { return kpiKey.MatchString(s) }

// Measurement is one observed value of a KPI. ID makes a write idempotent:
// the same ID for the same KPI is stored once.
type Measurement struct {
	ID         string    `json:"id" db:"id"`
	KPI        string    `json:"kpi" db:"kpi_key"`
	Value      float64   `json:"value" db:"value"`
	At         time.Time `json:"at" db:"at"`
	Source     string    `json:"source,omitempty" db:"source"`
	RecordedBy string    `json:"recorded_by" db:"recorded_by"`
	RecordedAt time.Time `json:"recorded_at" db:"recorded_at"`
}

var measurementID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// MaxMeasurementSkew is how far in the future a measurement may be dated:
// clocks differ a little, but a value observed tomorrow is a mistake.
const MaxMeasurementSkew = 5 * time.Minute

// Validate checks a measurement as a client sends it; field prefixes the
// field names ("items[3].").
func (m Measurement) Validate(prefix string, now time.Time) error {
	switch {
	case m.ID != "" && !measurementID.MatchString(m.ID):
		return Invalid(prefix+"id", "id must be 1–128 letters, digits, '.', '_', ':' or '-'")
	case math.IsNaN(m.Value) || math.IsInf(m.Value, 0):
		return Invalid(prefix+"value", "value must be a finite number")
	case m.At.IsZero():
		return Invalid(prefix+"at", "at (when the value was observed) is required")
	case m.At.After(now.Add(MaxMeasurementSkew)):
		return Invalid(prefix+"at", "at is in the future")
	case len(m.Source) > 500:
		return Invalid(prefix+"source", "source must be at most 500 characters")
	}
	return nil
}

// KPIStats summarises a KPI's measurements over a window [From, To).
type KPIStats struct {
	KPI   string    `json:"kpi"`
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Count int       `json:"count"`
	Mean  float64   `json:"mean"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	// MeasuredAt is when the measurements were read.
	MeasuredAt time.Time `json:"measured_at,omitzero"`
	// Shift is what the KPI's control chart shows over the window against
	// the process before it (set when the window was read for a Kaizen).
	Shift *ShiftVerdict `json:"shift,omitempty"`
}

// Round4 rounds to four decimals, so that derived figures read as numbers
// people write (0.3, not 0.30000000000000004).
func Round4(v float64) float64 { return math.Round(v*1e4) / 1e4 }
