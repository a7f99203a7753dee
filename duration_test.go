package opsflow

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		text string
	}{
		{0, "PT0S"}, {time.Second, "PT1S"}, {24 * time.Hour, "P1D"}, {36 * time.Hour, "P1DT12H"},
		{90 * time.Minute, "PT1H30M"}, {1500 * time.Millisecond, "PT1.5S"}, {-48 * time.Hour, "-P2D"},
	} {
		b, err := json.Marshal(Duration(c.d))
		if err != nil || string(b) != `"`+c.text+`"` {
			t.Errorf("%v: %s %v, want %q", c.d, b, err, c.text)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back.D() != c.d {
			t.Errorf("%s: read back %v %v", b, back.D(), err)
		}
	}
	// What state written before Duration existed holds: nanoseconds.
	var legacy Duration
	if err := json.Unmarshal([]byte("86400000000000"), &legacy); err != nil || legacy.D() != 24*time.Hour {
		t.Errorf("nanoseconds: %v %v", legacy.D(), err)
	}
	for _, bad := range []string{`"P"`, `"PT"`, `"2 days"`, `true`} {
		var d Duration
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("%s read as %v", bad, d)
		}
	}
}
