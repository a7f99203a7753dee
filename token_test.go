package opsflow

import (
	"strings"
	"testing"
	"time"
)

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"90d": "2027-02-20T10:00:00Z", "12h": "2026-11-22T22:00:00Z", "2027-01-01": "2027-01-01T00:00:00Z",
		"2027-01-01T08:00:00+01:00": "2027-01-01T07:00:00Z", " 1d ": "2026-11-23T10:00:00Z",
	} {
		got, err := ParseExpiry(in, now)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("%s: %v %v, want %s", in, got, err, want)
		}
	}
	if got, err := ParseExpiry("", now); got != nil || err != nil {
		t.Errorf("none: %v %v", got, err)
	}
	for _, bad := range []string{"0d", "-5h", "soon", "d", "99999999999d", "1.5d", "2027-13-01"} {
		if _, err := ParseExpiry(bad, now); err == nil || ErrorCode(err) != EINVALID || err.(*Error).Field != "expires" {
			t.Errorf("%q: %v, want a 422 naming expires", bad, err)
		}
	}
}

// The API's expiry: a default when none is asked, never in the past,
// never more than MaxTokenYears ahead; each refusal names expires.
func TestTokenExpiry(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{
		"":                     "2027-02-20T10:00:00Z", // DefaultTokenLifetime
		"12h":                  "2026-11-22T22:00:00Z",
		"730d":                 "2028-11-21T10:00:00Z",
		"2028-11-22T10:00:00Z": "2028-11-22T10:00:00Z", // exactly two years: allowed
	} {
		got, err := TokenExpiry(in, now)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("%q: %v %v, want %s", in, got, err, want)
		}
	}
	for in, says := range map[string]string{
		"2026-11-22T09:59:59Z": "lies in the past",
		"2026-11-22":           "lies in the past", // midnight, gone
		"2028-11-22T10:00:01Z": "more than 2 years ahead",
		"800d":                 "more than 2 years ahead",
		"tomorrow":             "a number of days (90d)",
	} {
		_, err := TokenExpiry(in, now)
		e, ok := err.(*Error)
		if !ok || e.Code != EINVALID || e.Field != "expires" || !strings.Contains(e.Message, says) {
			t.Errorf("%q: %v, want a 422 on expires saying %q", in, err, says)
		}
	}
}

func TestCheckTokenLabel(t *testing.T) {
	if got, err := CheckTokenLabel("  laptop  "); err != nil || got != "laptop" {
		t.Errorf("trimmed: %q %v", got, err)
	}
	if got, err := CheckTokenLabel(strings.Repeat("é", MaxTokenLabel)); err != nil || got == "" {
		t.Errorf("%d characters (twice as many bytes): %v", MaxTokenLabel, err)
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", MaxTokenLabel+1), "two\nlines", "tab\there"} {
		if _, err := CheckTokenLabel(bad); ErrorCode(err) != EINVALID || err.(*Error).Field != "label" {
			t.Errorf("%.20q: %v, want a 422 naming label", bad, err)
		}
	}
}
