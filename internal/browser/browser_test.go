package browser

import (
	"strings"
	"testing"
)

// A browser named but missing is an error that says which setting named
// it, not a silent fall back to another.
func TestFindHonoursTheSetting(t *testing.T) {
	t.Setenv(PathEnv, "/nonexistent/chromium")
	if _, err := Find(); err == nil || !strings.Contains(err.Error(), PathEnv) {
		t.Errorf("Find with a missing %s: %v", PathEnv, err)
	}
}
