package workflows_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

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

// TestEveryWorkflowHasAHistory makes sure no shipped workflow goes
// unguarded: each registered workflow type needs at least one saved
// history in testdata/.
func TestEveryWorkflowHasAHistory(t *testing.T) {
	var reg registry
	worker.RegisterWorkflows(&reg)
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, f := range files {
		covered[workflowType(t, f)] = true
	}
	sort.Strings(reg.names)
	for _, name := range reg.names {
		if !covered[name] {
			t.Errorf("workflow %s has no saved history in workflows/testdata: record one with OPSFLOW_UPDATE_HISTORIES=1 go test ./server/", name)
		}
	}
}

// workflowType reads the workflow type name from a history's first event.
func workflowType(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []struct {
			Attrs struct {
				WorkflowType struct {
					Name string `json:"name"`
				} `json:"workflowType"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &h); err != nil || len(h.Events) == 0 {
		t.Fatalf("%s is not a workflow history: %v", path, err)
	}
	return h.Events[0].Attrs.WorkflowType.Name
}

// registry records the names of registered workflows, as the SDK names
// them (the registered name, or the function's name).
type registry struct{ names []string }

func (r *registry) RegisterWorkflow(w any) {
	r.RegisterWorkflowWithOptions(w, workflow.RegisterOptions{})
}

func (r *registry) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	name := o.Name
	if name == "" {
		full := runtime.FuncForPC(reflect.ValueOf(w).Pointer()).Name()
		name = full[strings.LastIndex(full, ".")+1:]
	}
	r.names = append(r.names, name)
}

func (r *registry) RegisterDynamicWorkflow(any, workflow.DynamicRegisterOptions) {}

// TestHistorySizes reports the size of every saved history — events, and
// bytes as Temporal stores them (protobuf) — so the cost of a process in
// Temporal's database is a number anyone can reproduce:
//
//	go test ./workflows -run TestHistorySizes -v
//
// The *_engine2 histories were recorded by the same scenarios as the
// older ones, on the engine whose projection is a local activity.
func TestHistorySizes(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h historypb.History
		if err := (temporalproto.CustomJSONUnmarshalOptions{}).Unmarshal(b, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(h.Events) == 0 {
			t.Fatalf("%s has no events", f)
		}
		t.Logf("%-45s %4d events %8d bytes", filepath.Base(f), len(h.Events), proto.Size(&h))
	}
}
