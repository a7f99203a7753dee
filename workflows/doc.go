// Package workflows holds one Temporal workflow per process (CAPA, Kaizen,
// onboarding) and the pieces they share: the projection engine, the task
// board with its reminder and escalation timers, and the transport of
// opsflow errors across Temporal.
//
// Every function here runs inside a workflow and must be deterministic: time
// comes from workflow.Now, waiting from workflow timers, and I/O only from
// activities, which are named by the constants below so that this package
// does not import the activities it calls.
package workflows

// Activity names. The worker registers the activities under these names.
const (
	ActivitySaveSnapshot = "SaveSnapshot"
)

// TaskQueue is the default task queue of workflows and activities.
const TaskQueue = "opsflow"

// UpdateOpen is the update that a create sends with Update-with-Start: it
// returns once the new process is in the read model, so the API can answer
// 201 with the record.
const UpdateOpen = "open"

// QueryState returns the live process row.
const QueryState = "state"

// Activities the engine runs as local activities (engine v2) besides
// ActivitySaveSnapshot: marking a process stalled, and closing one an
// administrator abandoned.
const (
	ActivityMarkStalled = "MarkStalled"
	ActivityAbandon     = "AbandonProcess"
)

// Registered workflow type names. They are part of every history and of
// every running workflow: never rename one.
const (
	WorkflowCAPA       = "CAPA"
	WorkflowKaizen     = "Kaizen"
	WorkflowOnboarding = "Onboarding"
)
