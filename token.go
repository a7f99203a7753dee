package opsflow

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rules of the API tokens people and administrators issue through the
// API and the web app (operators issue theirs with the command line,
// which may leave the expiry out: a service account's token is rotated by
// hand).
const (
	// MaxTokenLabel is the longest label, in characters: a label says what
	// a token is for ("laptop", "nightly export"), not why.
	MaxTokenLabel = 100
	// DefaultTokenLifetime is how long a token issued through the API
	// lives when its request names no expiry: a token nobody remembers
	// must not work for ever.
	DefaultTokenLifetime = 90 * 24 * time.Hour
	// MaxTokenYears bounds how far ahead an expiry asked of the API may
	// lie.
	MaxTokenYears = 2
)

// expiryHelp says what an expiry may be, in every refusal.
const expiryHelp = "a number of days (90d), a duration (12h), a date (2027-06-30) or an RFC 3339 time"

// ParseExpiry reads when a token stops working: "" (never), a duration
// from now in days ("90d") or Go's units ("12h"), a date (midnight UTC)
// or an RFC 3339 time. It does not bound the result: TokenExpiry does, for
// the API. A refusal names the field "expires".
func ParseExpiry(v string, now time.Time) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var at time.Time
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 1_000_000 {
			return nil, Invalid("expires", "expires %q: %s", v, expiryHelp)
		}
		at = now.AddDate(0, 0, n)
	} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
		at = now.Add(d)
	} else if t, err := time.Parse(time.DateOnly, v); err == nil {
		at = t
	} else if t, err := time.Parse(time.RFC3339, v); err == nil {
		at = t
	} else {
		return nil, Invalid("expires", "expires %q: %s", v, expiryHelp)
	}
	at = at.UTC()
	return &at, nil
}

// TokenExpiry is the expiry of a token issued through the API at now:
// DefaultTokenLifetime from now when v is empty, else v as ParseExpiry
// reads it, which must lie in the future and at most MaxTokenYears
// ahead. A refusal names the field "expires".
func TokenExpiry(v string, now time.Time) (time.Time, error) {
	at, err := ParseExpiry(v, now)
	if err != nil {
		return time.Time{}, err
	}
	if at == nil {
		return now.Add(DefaultTokenLifetime).UTC(), nil
	}
	switch limit := now.AddDate(MaxTokenYears, 0, 0); {
	case !at.After(now):
		return time.Time{}, Invalid("expires", "expires %s lies in the past: a token's expiry must lie in the future", at.Format(time.RFC3339))
	case at.After(limit):
		return time.Time{}, Invalid("expires", "expires %s lies more than %d years ahead: at most %s", at.Format(time.RFC3339), MaxTokenYears, limit.UTC().Format(time.DateOnly))
	}
	return *at, nil
}

// CheckTokenLabel refuses a label a token issued through the API may not
// have: none, longer than MaxTokenLabel characters, or with a control
// character (a line break would garble `opsflow token list`). label is
// trimmed first; the trimmed label is returned.
func CheckTokenLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	switch {
	case label == "":
		return "", Invalid("label", "say what the token is for, e.g. \"laptop\" or \"nightly export\": the label tells your tokens apart")
	case utf8.RuneCountInString(label) > MaxTokenLabel:
		return "", Invalid("label", "the label is %d characters long; at most %d are accepted", utf8.RuneCountInString(label), MaxTokenLabel)
	case strings.ContainsFunc(label, unicode.IsControl):
		return "", Invalid("label", "the label contains a control character (a line break, a tab)")
	}
	return label, nil
}
