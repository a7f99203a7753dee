package opsflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time that reads as ISO 8601 in JSON ("P2D",
// "PT1H30M", "PT0.5S"), as people and other tools expect, instead of Go's
// nanoseconds. It also reads a number (nanoseconds) and a Go duration
// string ("36h"), so state written before it existed still decodes.
type Duration time.Duration

// D is the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String is the ISO 8601 form.
func (d Duration) String() string {
	if d == 0 {
		return "PT0S"
	}
	var b strings.Builder
	v := time.Duration(d)
	if v < 0 {
		b.WriteByte('-')
		v = -v
	}
	b.WriteByte('P')
	if days := v / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		v -= days * 24 * time.Hour
	}
	if v == 0 {
		return b.String()
	}
	b.WriteByte('T')
	if h := v / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
		v -= h * time.Hour
	}
	if m := v / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
		v -= m * time.Minute
	}
	if v > 0 {
		b.WriteString(strconv.FormatFloat(v.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}

// MarshalJSON writes the ISO 8601 form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

var isoDuration = regexp.MustCompile(`^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// UnmarshalJSON reads ISO 8601, a Go duration string or nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = Duration(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Invalid("", "a duration is an ISO 8601 string such as \"P2D\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration reads an ISO 8601 duration in days, hours, minutes and
// seconds ("P1DT12H"), or a Go duration string ("36h").
func ParseDuration(s string) (Duration, error) {
	if m := isoDuration.FindStringSubmatch(s); m != nil && s != "P" && !strings.HasSuffix(s, "T") {
		var total time.Duration
		for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
			if m[i+2] != "" {
				n, _ := strconv.ParseInt(m[i+2], 10, 64)
				total += time.Duration(n) * unit
			}
		}
		if m[5] != "" {
			f, _ := strconv.ParseFloat(m[5], 64)
			total += time.Duration(f * float64(time.Second))
		}
		if m[1] == "-" {
			total = -total
		}
		return Duration(total), nil
	}
	if v, err := time.ParseDuration(s); err == nil {
		return Duration(v), nil
	}
	return 0, Invalid("", "%q is not a duration: use ISO 8601 such as \"P2D\" or \"PT4H\"", s)
}
