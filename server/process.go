package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/workflows"
)

// The handlers in this file are shared by every process resource (CAPA,
// Kaizen, onboarding): create, read, list, act, audit.

const headerIdempotencyKey = "Idempotency-Key"

// idempotencyKey returns the request's Idempotency-Key, validated.
func idempotencyKey(c echo.Context) (string, error) {
	k := c.Request().Header.Get(headerIdempotencyKey)
	if len(k) > 200 || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", opsflow.Invalid(headerIdempotencyKey, "Idempotency-Key must be at most 200 printable characters")
	}
	return k, nil
}

// digest returns a short hex digest of parts, joined unambiguously.
func digest(n int, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:n]
}

// newProcessID derives the workflow ID of a new process. With an
// Idempotency-Key the ID is a digest of the user, the kind and the key, so
// the same key from the same user always names the same process.
func newProcessID(c echo.Context, kind opsflow.Kind) (string, error) {
	key, err := idempotencyKey(c)
	if err != nil {
		return "", err
	}
	if key != "" {
		return kind.IDPrefix() + digest(20, userOf(c).ID, string(kind), key), nil
	}
	var b [10]byte
	_, _ = rand.Read(b[:])
	return kind.IDPrefix() + hex.EncodeToString(b[:]), nil
}

// startProcess starts a process workflow and answers 201 with its record.
// It uses Update-with-Start: the workflow starts (or, for a repeated
// Idempotency-Key, the running one is used) and the open update returns once
// the record is in the read model. input must already be validated.
//
// A repeated key answers 200 with the process as it is now (not as it was
// created), since that is what the client will act on next.
func (s *Server) startProcess(c echo.Context, kind opsflow.Kind, workflowType string, input any) error {
	id, err := newProcessID(c, kind)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	wait, cancel := s.updateDeadline(ctx)
	defer cancel()
	start := s.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.TaskQueue,
		// A repeated key joins the running process; a finished one is not
		// started again (the read model answers for it below).
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// A worker killed in the middle of a task costs this long before
		// another takes over (the default is 10 s); opsflow's workflow
		// tasks take milliseconds, their projection included.
		WorkflowTaskTimeout: workflowTaskTimeout,
	}, workflowType, input)
	h, err := s.Temporal.UpdateWithStartWorkflow(wait, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateOpen,
			UpdateID:     workflows.UpdateOpen,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var ack opsflow.Ack
	if err == nil {
		err = h.Get(wait, &ack)
	}
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		var notFound *serviceerror.NotFound
		if errors.As(err, &started) || errors.As(err, &notFound) {
			// The key named a process that has already finished.
			if row, gerr := s.Store.GetProcess(ctx, kind, id); gerr == nil {
				return s.respondRecord(c, http.StatusOK, row)
			}
		}
		if wait.Err() != nil && ctx.Err() == nil {
			return s.pendingStep(c, kind, id, workflows.UpdateOpen)
		}
		return err
	}
	row, err := s.readAck(ctx, kind, ack)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/"+resourceOf(kind)+"/"+id)
	return s.respondRecord(c, http.StatusCreated, row)
}

// workflowTaskTimeout bounds one workflow task of a process (see
// startProcess).
const workflowTaskTimeout = 5 * time.Second

// updateDeadline is how long a request waits for a step's outcome: the
// request's own deadline less a margin, kept to find out whether the step
// was accepted and to answer.
func (s *Server) updateDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.RequestTimeout - 3*time.Second
	if d < time.Second {
		d = s.RequestTimeout / 2
	}
	return context.WithTimeout(ctx, d)
}

// readAck reads the record a step's answer points to. The projection
// committed before the answer was sent, so one read normally suffices; a
// row older than the answer (a read replica behind) is read again briefly.
func (s *Server) readAck(ctx context.Context, kind opsflow.Kind, ack opsflow.Ack) (opsflow.Process, error) {
	for i := 0; ; i++ {
		row, err := s.Store.GetProcess(ctx, kind, ack.ID)
		if err != nil {
			return row, err
		}
		if row.Version >= ack.Version || i == 20 {
			return row, nil
		}
		select {
		case <-ctx.Done():
			return row, nil
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// pendingStep answers a step whose outcome did not arrive in time. It asks
// Temporal, briefly, whether the step was accepted: if so the change will
// be made and the answer is 202 with where to look; if not, nothing was
// applied and the answer is 503 — retry, with the same Idempotency-Key to
// be safe either way.
func (s *Server) pendingStep(c echo.Context, kind opsflow.Kind, id, updateID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 2*time.Second)
	defer cancel()
	h := s.Temporal.GetWorkflowUpdateHandle(client.GetWorkflowUpdateHandleOptions{WorkflowID: id, UpdateID: updateID})
	var ack opsflow.Ack
	err := h.Get(ctx, &ack)
	var timedOut *client.WorkflowUpdateServiceTimeoutOrCanceledError
	switch {
	case err == nil:
		row, rerr := s.readAck(ctx, kind, ack)
		if rerr == nil {
			return s.respondRecord(c, http.StatusOK, row)
		}
	case ctx.Err() != nil || errors.As(err, &timedOut):
		// Still running: the update exists, so it was admitted and will
		// complete (an update that was never admitted answers NotFound).
		location := "/v1/" + resourceOf(kind) + "/" + id
		c.Response().Header().Set(echo.HeaderLocation, location)
		c.Response().Header().Set("Retry-After", "2")
		return c.JSON(http.StatusAccepted, acceptedBody{
			Status: "accepted", ID: id, Location: location, UpdateID: updateID,
			Message: "the change was accepted and is being applied; read " + location + ", or repeat the request with the same Idempotency-Key for its outcome",
		})
	default:
		if _, ok := workflows.OpsError(err); ok {
			return err // the step was rejected after all: the usual answer
		}
	}
	return opsflow.Errorf(opsflow.EUNAVAILABLE, "the change was not applied in time; repeat the request (with the same Idempotency-Key, a repeat is always safe)")
}

// acceptedBody is the answer of a step accepted but not yet applied (202).
type acceptedBody struct {
	Status   string `json:"status"`
	ID       string `json:"id"`
	Location string `json:"location"`
	UpdateID string `json:"update_id"`
	Message  string `json:"message"`
}

// updateProcess sends the named update to the process in path parameter
// "id" and answers with its record. arg carries the actor (the caller sets
// it from the authenticated user). With an Idempotency-Key the update ID is
// derived from it, so a retried request runs the change once; without one
// it is random, which still lets a slow answer be followed up.
func (s *Server) updateProcess(c echo.Context, kind opsflow.Kind, name string, arg any) error {
	id := c.Param("id")
	if !strings.HasPrefix(id, kind.IDPrefix()) {
		return notFound(kind, id)
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	updateID := name + "-" + randomHex(12)
	if key != "" {
		updateID = name + "-" + digest(24, userOf(c).ID, name, key)
	}
	ctx := c.Request().Context()
	wait, cancel := s.updateDeadline(ctx)
	defer cancel()
	// Temporal takes a few updates per workflow at a time and refuses the
	// rest; queueing here turns a burst of steps on one record into a
	// short wait instead of errors.
	release, err := s.inflight.acquire(wait, id)
	if err != nil {
		return opsflow.Errorf(opsflow.EUNAVAILABLE, "too many changes to %s at once; the change was not applied, retry shortly", id)
	}
	defer release()
	h, err := s.Temporal.UpdateWorkflow(wait, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		UpdateID:     updateID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var ack opsflow.Ack
	if err == nil {
		err = h.Get(wait, &ack)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			// No running workflow: either it never existed or it has finished.
			if row, gerr := s.Store.GetProcess(ctx, kind, id); gerr == nil {
				return opsflow.Conflict(row.State, "%s %s is %s and takes no more changes", kind, id, row.State)
			}
			return notFound(kind, id)
		}
		// The SDK gives up at the deadline it passed to the server, which
		// may answer a moment before wait itself expires: that too is
		// "no outcome in time", not a fault.
		var timedOut *client.WorkflowUpdateServiceTimeoutOrCanceledError
		if (wait.Err() != nil || errors.As(err, &timedOut)) && ctx.Err() == nil {
			return s.pendingStep(c, kind, id, updateID)
		}
		return err
	}
	row, err := s.readAck(ctx, kind, ack)
	if err != nil {
		return err
	}
	return s.respondRecord(c, http.StatusOK, row)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// getProcess answers with the record of the process in path parameter
// "id", as guard read it: in full, or without its personal data for a
// reader who only holds a task in it.
func (s *Server) getProcess(c echo.Context) error {
	row, _ := guardedRow(c)
	return s.respondRecord(c, http.StatusOK, row)
}

// listProcesses answers a keyset-paginated list of records of kind. The
// common filters are state, owner and opened/closed ranges; searchKeys names
// the kind's own exact-match filters (risk_level, sponsor, …).
func (s *Server) listProcesses(c echo.Context, kind opsflow.Kind, searchKeys ...string) error {
	f := opsflow.ProcessFilter{Kind: kind, State: c.QueryParam("state"), OwnerID: c.QueryParam("owner"), Cursor: c.QueryParam("cursor"), Scope: s.scopeOf(c)}
	var err error
	if f.Limit, err = queryInt(c, "limit", opsflow.DefaultPageSize, 1, opsflow.MaxPageSize); err != nil {
		return err
	}
	if f.OpenedFrom, err = queryTime(c, "opened_from"); err != nil {
		return err
	}
	if f.OpenedTo, err = queryTime(c, "opened_to"); err != nil {
		return err
	}
	if f.ClosedFrom, err = queryTime(c, "closed_from"); err != nil {
		return err
	}
	if f.ClosedTo, err = queryTime(c, "closed_to"); err != nil {
		return err
	}
	if f.Stalled, err = queryBool(c, "stalled"); err != nil {
		return err
	}
	for _, k := range searchKeys {
		if v := c.QueryParam(k); v != "" {
			if f.Search == nil {
				f.Search = map[string]string{}
			}
			f.Search[k] = v
		}
	}
	return s.respondList(c, f)
}

// processAudit answers the audit trail of the process in path parameter
// "id" (guard checked the caller reads it in full), oldest first, with the
// chain hashes.
func (s *Server) processAudit(c echo.Context) error {
	row, _ := guardedRow(c)
	events, err := s.Store.AuditEvents(c.Request().Context(), row.ID)
	if err != nil {
		return err
	}
	if events == nil {
		events = []opsflow.AuditEvent{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": events})
}

// respondRecord writes a process's record as the caller may see it (see
// recordFor), with its read-model version as the ETag.
func (s *Server) respondRecord(c echo.Context, status int, row opsflow.Process) error {
	rec, err := s.recordFor(c, row)
	if err != nil {
		return err
	}
	c.Response().Header().Set("ETag", fmt.Sprintf(`"%d"`, row.Version))
	return c.JSONBlob(status, rec)
}

func notFound(kind opsflow.Kind, id string) error {
	return &opsflow.Error{Code: opsflow.ENOTFOUND, Message: fmt.Sprintf("no %s with id %q", kind, id)}
}

// resourceOf is the URL collection of each kind.
func resourceOf(kind opsflow.Kind) string {
	switch kind {
	case opsflow.KindCAPA:
		return "capas"
	case opsflow.KindKaizen:
		return "kaizen"
	case opsflow.KindOnboarding:
		return "onboardings"
	}
	return string(kind)
}

// respondList answers one page of records matching f.
func (s *Server) respondList(c echo.Context, f opsflow.ProcessFilter) error {
	page, err := s.Store.ListProcesses(c.Request().Context(), f)
	if err != nil {
		return err
	}
	items := make([]json.RawMessage, len(page.Items))
	for i, p := range page.Items {
		items[i] = p.Record
	}
	return c.JSON(http.StatusOK, opsflow.Page[json.RawMessage]{Items: items, NextCursor: page.NextCursor})
}
