package workflows

import (
	"slices"
	"testing"

	"github.com/opsflow/opsflow"
)

// Each workflow handles exactly the steps the domain lists for its kind:
// the API serves a route per listed step, so a step listed and not handled
// (or handled and not listed) is caught here, not by a user.
func TestWorkflowsHandleTheDomainsSteps(t *testing.T) {
	for kind, p := range map[opsflow.Kind]process{
		opsflow.KindCAPA:       &capa{},
		opsflow.KindKaizen:     &kaizen{},
		opsflow.KindOnboarding: &onboarding{},
	} {
		ki, ok := opsflow.KindOf(kind)
		if !ok {
			t.Fatalf("no kind %s", kind)
		}
		var handled []string
		for _, h := range p.steps() {
			if slices.Contains(handled, h.name) {
				t.Errorf("%s handles %s twice", kind, h.name)
			}
			handled = append(handled, h.name)
		}
		want := ki.UpdateNames()
		slices.Sort(handled)
		slices.Sort(want)
		if !slices.Equal(handled, want) {
			t.Errorf("%s: the workflow handles %v, the domain lists %v", kind, handled, want)
		}
	}
}
