// Package worker assembles the Temporal worker: it registers every workflow
// and activity under the names the workflows call them by.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

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

// RegisterWorkflows registers every workflow; each process adds its own
// line. The replay tests use it too, so a workflow missing here fails them.
func RegisterWorkflows(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflow(workflows.Kaizen)
	r.RegisterWorkflow(workflows.CAPA)
	r.RegisterWorkflow(workflows.Onboarding)
}

// New returns a worker for taskQueue with every workflow and activity
// registered. Run it with Start/Stop or Run(sdkworker.InterruptCh()).
func New(c client.Client, taskQueue string, acts *activities.Activities) sdkworker.Worker {
	w := sdkworker.New(c, taskQueue, sdkworker.Options{
		// Workers are killed in production (deploys, OOM): finishing the
		// in-flight activity beats abandoning it to its start-to-close timeout.
		WorkerStopTimeout: 10 * time.Second,
	})
	Register(w, acts)
	return w
}
