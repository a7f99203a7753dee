package server_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
)

// saveHistory writes the history of workflow id to
// workflows/testdata/<name>.json when OPSFLOW_UPDATE_HISTORIES=1. The replay
// test in package workflows replays every such file, so a workflow change
// that breaks running executions fails CI. Record a history only from a
// workflow that has finished (or reached a stable wait).
func saveHistory(t *testing.T, a *app, id, name string) {
	t.Helper()
	if os.Getenv("OPSFLOW_UPDATE_HISTORIES") != "1" {
		return
	}
	ctx := context.Background()
	it := a.TC.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var h historypb.History
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatalf("encode history: %v", err)
	}
	writeHistory(t, name, b)
	t.Logf("saved history of %s as %s (%d events)", id, name, len(h.Events))
}

// writeHistory adds a history under workflows/testdata. Histories are
// added, never re-recorded: each is a workflow as it ran on a released
// engine, and replaying it is what keeps today's code able to resume it.
// To record a new path, give it a new name.
func writeHistory(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join("..", "workflows", "testdata", name+".json")
	if _, err := os.Stat(path); err == nil {
		t.Logf("history %s exists; histories are never re-recorded", path)
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var _ = saveHistory // used by the process tests
