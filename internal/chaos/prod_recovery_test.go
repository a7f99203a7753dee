package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/deploy"
	"github.com/opsflow/opsflow/internal/devstack"
)

// backupRestore follows the README's backup and restore: with the API,
// the workers and Temporal stopped, pg_dump each of the three databases;
// then drop them, restore the dumps into fresh databases, start everything
// again on them, and check that every CAPA of every phase is as its
// clients were told, every chain verifies, and a new load works.
func (p *prodRun) backupRestore(t *testing.T) {
	ctx := t.Context()
	st := p.st
	bin, err := devstack.FindPostgres()
	if err != nil {
		t.Fatalf("%v", err)
	}
	dir := t.TempDir()
	lap := stopwatch()
	st.stopOpsflow(ctx, t)
	if err := st.temporal.Stop(ctx); err != nil {
		t.Fatalf("stop Temporal: %v", err)
	}
	st.mark("temporal", "stopped for the backup")
	t.Logf("API, workers and Temporal stopped in %s", lap())

	dbs := []string{deploy.Database, deploy.TemporalDatabase, deploy.VisibilityDatabase}
	conn := []string{"--host", "127.0.0.1", "--port", strconv.Itoa(st.pg.Port()), "--username", "postgres"}
	began := time.Now()
	var sizes []string
	for _, db := range dbs {
		file := filepath.Join(dir, db+".dump")
		if out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_dump"), append(conn, "--format=custom", "--file", file, db)...).CombinedOutput(); err != nil {
			t.Fatalf("pg_dump %s: %v\n%s", db, err, out)
		}
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fmt.Sprintf("%s %d KB", db, fi.Size()/1024))
	}
	dumped := time.Since(began)

	server := st.pg.URL("postgres")
	for _, db := range dbs {
		if err := devstack.DropDatabase(ctx, server, db); err != nil {
			t.Fatalf("%v", err)
		}
	}
	st.mark("postgres", "dropped %v; restoring them from the dumps", dbs)
	began = time.Now()
	for _, db := range dbs {
		// The README's command: --clean --if-exists --create drops the
		// database if it is there (a fresh compose volume has an empty
		// opsflow) and makes it from the dump, under its name.
		args := append(conn, "--clean", "--if-exists", "--create", "--exit-on-error", "--dbname", "postgres", filepath.Join(dir, db+".dump"))
		if out, err := exec.CommandContext(ctx, filepath.Join(bin, "pg_restore"), args...).CombinedOutput(); err != nil {
			t.Fatalf("pg_restore %s: %v\n%s", db, err, out)
		}
	}
	restored := time.Since(began)
	t.Logf("pg_dump of 3 databases in %s (%s); pg_restore in %s", dumped.Round(time.Millisecond), strings.Join(sizes, ", "), restored.Round(time.Millisecond))

	// Temporal on the restored databases: its schema script finds them
	// current, temporal-setup finds the namespace; then opsflow.
	lap()
	if err := st.startProdTemporal(ctx); err != nil {
		t.Fatalf("after the restore: %v", err)
	}
	if err := st.dial(ctx); err != nil {
		t.Fatalf("%v", err)
	}
	t.Logf("Temporal up on the restored databases in %s", lap())
	st.startOpsflow(ctx, t)
	t.Logf("workers polling and APIs answering in %s", lap())
	after := p.phase(ctx, "after-restore", 10, 4, nil)
	if after.accepted != after.logicals {
		t.Errorf("after the restore: %d of %d requests accepted", after.accepted, after.logicals)
	}
	probs := problems{}
	p.verifyAll(ctx, t, &probs)
	p.failedCheck("backup-restore", probs)
	probs.report(t)
}

// stopOpsflow stops every API and worker (SIGTERM: they drain).
func (s *stack) stopOpsflow(ctx context.Context, t *testing.T) {
	for _, a := range s.apis {
		if err := a.child.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", a.name, err)
		}
		s.mark(a.name, "stopped")
	}
	for i, w := range s.workers {
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stop worker-%d: %v", i+1, err)
		}
		s.mark(fmt.Sprintf("worker-%d", i+1), "stopped")
	}
}

// startOpsflow starts every worker and API again.
func (s *stack) startOpsflow(ctx context.Context, t *testing.T) {
	for i := range s.workers {
		if err := s.startWorker(ctx, i); err != nil {
			t.Fatalf("%v", err)
		}
	}
	for i := range s.apis {
		if err := s.startAPI(ctx, i); err != nil {
			t.Fatalf("%v", err)
		}
	}
}

// historyDeleted closes a CAPA (decided: no CAPA needed), deletes its
// workflow execution from Temporal — what the namespace's retention does
// to every closed process after deploy.Retention — and checks that the
// process is still fully readable, listable and auditable from
// PostgreSQL: record, list, trail, chain verification, inspection pack.
func (p *prodRun) historyDeleted(t *testing.T) {
	ctx := t.Context()
	api := &caller{base: p.st.apis[1].url(), tokens: p.st.tokens, hc: p.loads[0].hc}
	var c struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	api.must(ctx, t, http.StatusCreated, "alice", "POST", "/v1/capas", map[string]any{
		"title": "retention: closed, then its history deleted", "type": "corrective",
		"source":  map[string]any{"type": "complaint", "refs": []string{"CMP-RET"}},
		"problem": map[string]any{"what": "label misprint", "how_many": 1}, "owner": "alice",
	}, &c)
	api.must(ctx, t, http.StatusOK, "alice", "POST", "/v1/capas/"+c.ID+"/triage", map[string]any{"severity": 2, "occurrence": 1, "detection": 2}, nil)
	api.must(ctx, t, http.StatusOK, "bob", "POST", "/v1/capas/"+c.ID+"/decide", map[string]any{"capa_required": false, "rationale": "cosmetic, single occurrence",
		"signature": map[string]any{"printed_name": "Bob Chen", "meaning": "no CAPA required", "signing_password": chaosSigningPassword("bob")}}, &c)
	if c.State != string(opsflow.CAPAClosedNoCAPA) {
		t.Fatalf("decided no CAPA: state %q, want %s", c.State, opsflow.CAPAClosedNoCAPA)
	}
	var before struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	api.must(ctx, t, http.StatusOK, "carol", "GET", "/v1/capas/"+c.ID+"/audit", nil, &before)

	lap := stopwatch()
	ws := p.st.tc.WorkflowService()
	execution := &commonpb.WorkflowExecution{WorkflowId: c.ID}
	waitFor(t, 30*time.Second, "the workflow to close", func() error {
		d, err := p.st.tc.DescribeWorkflowExecution(ctx, c.ID, "")
		if err != nil {
			return err
		}
		if s := d.GetWorkflowExecutionInfo().GetStatus(); s == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return fmt.Errorf("status %s", s)
		}
		return nil
	})
	t.Logf("workflow closed %s after the decision", lap())
	if _, err := ws.DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{Namespace: deploy.Namespace, WorkflowExecution: execution}); err != nil {
		t.Fatalf("delete the workflow execution: %v", err)
	}
	waitFor(t, time.Minute, "Temporal to forget the workflow", func() error {
		_, err := ws.GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{Namespace: deploy.Namespace, Execution: execution})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("history still there (err %v)", err)
	})

	t.Logf("history gone %s after the delete", lap())

	// Everything a user and an auditor read comes from PostgreSQL.
	var rec struct {
		ID, State string
	}
	api.must(ctx, t, http.StatusOK, "alice", "GET", "/v1/capas/"+c.ID, nil, &rec)
	if rec.State != string(opsflow.CAPAClosedNoCAPA) {
		t.Errorf("GET after the history is gone: state %q", rec.State)
	}
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	api.must(ctx, t, http.StatusOK, "alice", "GET", "/v1/capas?state="+string(opsflow.CAPAClosedNoCAPA), nil, &list)
	if !containsID(list.Items, c.ID) {
		t.Errorf("GET /v1/capas?state=%s does not list %s", opsflow.CAPAClosedNoCAPA, c.ID)
	}
	var trail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	api.must(ctx, t, http.StatusOK, "carol", "GET", "/v1/capas/"+c.ID+"/audit", nil, &trail)
	if len(trail.Items) == 0 || len(trail.Items) != len(before.Items) {
		t.Errorf("trail has %d events after the history is gone, %d before", len(trail.Items), len(before.Items))
	}
	if brk := opsflow.VerifyChain(trail.Items); brk != nil {
		t.Errorf("chain breaks: %+v", *brk)
	}
	var rep opsflow.VerifyReport
	api.must(ctx, t, http.StatusOK, "carol", "GET", "/v1/audit/verify?stream="+url.QueryEscape(c.ID), nil, &rep)
	if !rep.OK || rep.Events != len(trail.Items) {
		t.Errorf("verify: %+v", rep)
	}
	var pack json.RawMessage
	api.must(ctx, t, http.StatusOK, "carol", "GET", "/v1/capas/"+c.ID+"/export?format=json", nil, &pack)
	file := filepath.Join(t.TempDir(), "pack.json")
	if err := os.WriteFile(file, pack, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := p.st.opsflow(ctx, "audit", "verify-pack", file)
	if err != nil || !strings.Contains(out, "pack verifies") {
		t.Errorf("opsflow audit verify-pack: %v\n%s", err, out)
	}
	t.Logf("%s: history deleted from Temporal; record, list, %d-event trail, verify and inspection pack served from PostgreSQL", c.ID, len(trail.Items))
}

// stopwatch returns a function that reports the time since it was last
// called (or since stopwatch).
func stopwatch() func() time.Duration {
	last := time.Now()
	return func() time.Duration {
		now := time.Now()
		d := now.Sub(last).Round(time.Millisecond)
		last = now
		return d
	}
}

func containsID(items []struct{ ID string }, id string) bool {
	for _, it := range items {
		if it.ID == id {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", within, what, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// caller sends single API requests as one of the stack's people.
type caller struct {
	base   string
	tokens map[string]string
	hc     *http.Client
}

// must sends one request and fails t unless it answers want; the answer
// is decoded into v when v is not nil.
func (c *caller) must(ctx context.Context, t *testing.T, want int, user, method, path string, body, v any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.tokens[user])
	req.Header.Set("Content-Type", "application/json")
	if method == http.MethodPost {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("prod-%s-%s-%d", user, path, time.Now().UnixNano()))
	}
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s as %s: %d, want %d: %s", method, path, user, res.StatusCode, want, brief(b))
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: decode: %v: %s", method, path, err, brief(b))
		}
	}
}
