// Package worker assembles the Temporal worker: it registers every workflow
// and activity under the names the workflows call them by, and runs the
// housekeeping that sits beside the processes (closing rows of workflows
// ended outside opsflow, forgetting old idempotency keys).
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/opsflow/opsflow/activities"
	"github.com/opsflow/opsflow/workflows"
)

// Register registers every workflow and activity with r. Activities are
// registered by method name, which is what the workflows.Activity*
// constants name.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterActivity(acts)
	RegisterWorkflows(r)
}

// RegisterWorkflows registers every workflow under its explicit type name
// (a Go rename must never rename a running workflow's type); each process
// adds its own line. The replay tests use it too, so a workflow missing
// here fails them.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.Kaizen, workflow.RegisterOptions{Name: workflows.WorkflowKaizen})
	r.RegisterWorkflowWithOptions(workflows.CAPA, workflow.RegisterOptions{Name: workflows.WorkflowCAPA})
	r.RegisterWorkflowWithOptions(workflows.Onboarding, workflow.RegisterOptions{Name: workflows.WorkflowOnboarding})
	registerKPIWorkflows(r)
}

// DefaultCacheSize is how many workflows a worker keeps in memory between
// tasks (sticky execution). A cached process holds its record and tasks —
// tens of kilobytes for a CAPA — so the SDK's default of 10,000 could hold
// half a gigabyte; 2,000 keeps a worker near 100 MB while the processes
// people are working on stay cached. A workflow that falls out is rebuilt
// by replay at its next task.
const DefaultCacheSize = 2000

// SetCacheSize sets the workflow cache size of every worker in this
// process. Call it once, before the first worker starts (an SDK rule).
func SetCacheSize(n int) {
	if n <= 0 {
		n = DefaultCacheSize
	}
	sdkworker.SetStickyWorkflowCacheSize(n)
}

// New returns a worker for taskQueue with every workflow and activity
// registered. Run it with Start/Stop or Run(sdkworker.InterruptCh()).
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		// Workers are killed in production (deploys, OOM): finishing the
		// in-flight activity beats abandoning it to its start-to-close timeout.
		WorkerStopTimeout: 10 * time.Second,
		// When this worker dies, the workflows it had cached move to
		// another after this long instead of the default 5 s.
		StickyScheduleToStartTimeout: 2 * time.Second,
	})
	Register(w, acts)
	return w
}
