package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

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
func (s *Server) startProcess(c echo.Context, kind opsflow.Kind, workflow any, input any) error {
	id, err := newProcessID(c, kind)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	start := s.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: s.TaskQueue,
		// A repeated key joins the running process; a finished one is not
		// started again (the read model answers for it below).
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, workflow, input)
	h, err := s.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateOpen,
			UpdateID:     workflows.UpdateOpen,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var row opsflow.Process
	if err == nil {
		err = h.Get(ctx, &row)
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
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/"+resourceOf(kind)+"/"+id)
	return s.respondRecord(c, http.StatusCreated, row)
}

// updateProcess sends the named update to the process in path parameter
// "id" and answers with its record. arg carries the actor (the caller sets
// it from the authenticated user). With an Idempotency-Key the update ID is
// derived from it, so a retried request runs the change once.
func (s *Server) updateProcess(c echo.Context, kind opsflow.Kind, name string, arg any) error {
	id := c.Param("id")
	if !strings.HasPrefix(id, kind.IDPrefix()) {
		return notFound(kind, id)
	}
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	updateID := ""
	if key != "" {
		updateID = name + "-" + digest(24, userOf(c).ID, name, key)
	}
	ctx := c.Request().Context()
	h, err := s.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		UpdateID:     updateID,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var row opsflow.Process
	if err == nil {
		err = h.Get(ctx, &row)
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
		return err
	}
	return s.respondRecord(c, http.StatusOK, row)
}

// getProcess answers with the record of the process in path parameter "id".
func (s *Server) getProcess(c echo.Context, kind opsflow.Kind) error {
	row, err := s.Store.GetProcess(c.Request().Context(), kind, c.Param("id"))
	if err != nil {
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return notFound(kind, c.Param("id"))
		}
		return err
	}
	return s.respondRecord(c, http.StatusOK, row)
}

// listProcesses answers a keyset-paginated list of records of kind. The
// common filters are state, owner and opened/closed ranges; searchKeys names
// the kind's own exact-match filters (risk_level, sponsor, …).
func (s *Server) listProcesses(c echo.Context, kind opsflow.Kind, searchKeys ...string) error {
	f := opsflow.ProcessFilter{Kind: kind, State: c.QueryParam("state"), OwnerID: c.QueryParam("owner"), Cursor: c.QueryParam("cursor")}
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
// "id", oldest first, with the chain hashes.
func (s *Server) processAudit(c echo.Context, kind opsflow.Kind) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	if _, err := s.Store.GetProcess(ctx, kind, id); err != nil {
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return notFound(kind, id)
		}
		return err
	}
	events, err := s.Store.AuditEvents(ctx, id)
	if err != nil {
		return err
	}
	if events == nil {
		events = []opsflow.AuditEvent{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": events})
}

// taskAction is the body of a task action.
type taskAction struct {
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence"`
}

// moveTask moves task "task_id" of process "id" to state to, as the
// authenticated user.
func (s *Server) moveTask(c echo.Context, kind opsflow.Kind, to opsflow.TaskState) error {
	var in taskAction
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	return s.updateProcess(c, kind, workflows.UpdateMoveTask, workflows.TaskMove{
		Actor: actorOf(c), TaskID: c.Param("task_id"), State: to, Reason: in.Reason, Evidence: in.Evidence,
	})
}

// respondRecord writes a process's record, with its read-model version as
// the ETag.
func (s *Server) respondRecord(c echo.Context, status int, row opsflow.Process) error {
	c.Response().Header().Set("ETag", fmt.Sprintf(`"%d"`, row.Version))
	return c.JSONBlob(status, row.Record)
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
