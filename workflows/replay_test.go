package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/opsflow/opsflow/worker"
)

// TestReplayHistories replays every saved history under testdata/ against
// today's workflow code. A change that would break a running workflow (a
// different command sequence without workflow.GetVersion) fails here.
// Histories are recorded by the server's integration tests with
// OPSFLOW_UPDATE_HISTORIES=1 (see server/history_test.go).
func TestReplayHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no histories under workflows/testdata: record them with OPSFLOW_UPDATE_HISTORIES=1 go test ./server/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(r)
			logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
