package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/opsflow/opsflow"
)

// Problem categories, in the order a report lists them: each names one
// promise the engine breaks.
const (
	catFault     = "fault injection"
	cat500       = "500 answers"
	cat4xx       = "unexpected 4xx answers"
	catAnswer    = "wrong answers"
	catUnfinish  = "requests without a final answer"
	catProcess   = "opsflow processes"
	catSurvivor  = "surviving worker"
	catPending   = "pending work in Temporal"
	catReadModel = "read model"
	catOnce      = "exactly once"
	catRefused   = "refused but applied"
	catChain     = "audit chain"
	catCheck     = "checks that could not run"
)

var categories = []string{catFault, cat500, cat4xx, catAnswer, catUnfinish, catProcess, catSurvivor,
	catPending, catReadModel, catOnce, catRefused, catChain, catCheck}

// problems collects failures by category, so a report says what went wrong
// in one place per promise rather than in the order things happened.
type problems map[string][]string

func (p *problems) add(cat, format string, args ...any) {
	if *p == nil {
		*p = problems{}
	}
	(*p)[cat] = append((*p)[cat], fmt.Sprintf(format, args...))
}

func (p problems) count() int {
	n := 0
	for _, v := range p {
		n += len(v)
	}
	return n
}

// report fails t with one error per category, each listing its first
// lines (the rest are counted).
func (p problems) report(t *testing.T) {
	t.Helper()
	const show = 12
	for _, cat := range categories {
		lines := p[cat]
		if len(lines) == 0 {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d\n", cat, len(lines))
		for i, l := range lines {
			if i == show {
				fmt.Fprintf(&b, "    … and %d more\n", len(lines)-show)
				break
			}
			fmt.Fprintf(&b, "    %s\n", l)
		}
		t.Error(strings.TrimRight(b.String(), "\n"))
	}
}

// brief is each failed category with its count and first n lines, for a
// log's last lines (CI shows only the end of a long log).
func (p problems) brief(n int) string {
	var b strings.Builder
	for _, cat := range categories {
		lines := p[cat]
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %d\n", cat, len(lines))
		for _, l := range lines[:min(n, len(lines))] {
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// summary names the categories that failed, with counts.
func (p problems) summary() string {
	var parts []string
	for _, cat := range categories {
		if n := len(p[cat]); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", cat, n))
		}
	}
	return strings.Join(parts, ", ")
}

// reader reads the API as carol (the auditor) for the checks. Reads are
// retried on the answers a client retries (connection errors, 502/503/504)
// for a bounded time; a 500 is recorded as a problem.
type reader struct {
	base  string
	token string
	hc    *http.Client
	probs *problems
}

func (r *reader) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var last string
	for {
		status, body, err := r.once(ctx, path)
		switch {
		case err == nil && status == http.StatusOK:
			if err := json.Unmarshal(body, v); err != nil {
				return fmt.Errorf("GET %s: decode: %w: %s", path, err, brief(body))
			}
			return nil
		case err == nil && status >= 500 && !slices.Contains([]int{502, 503, 504}, status):
			r.probs.add(cat500, "check GET %s answered %d: %s", path, status, brief(body))
			last = fmt.Sprintf("%d %s", status, brief(body))
		case err == nil && status >= 400 && status < 500:
			return fmt.Errorf("GET %s: %d %s", path, status, brief(body))
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("%d %s", status, brief(body))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("GET %s: no answer within 30s (last: %s)", path, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (r *reader) once(ctx context.Context, path string) (int, []byte, error) {
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	res, err := r.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// listCAPAs reads every CAPA in the read model, page by page.
func (r *reader) listCAPAs(ctx context.Context) ([]record, error) {
	var all []record
	cursor := ""
	for range 1000 { // a bound: 200 000 records is far beyond any scenario
		var page struct {
			Items      []record `json:"items"`
			NextCursor string   `json:"next_cursor"`
		}
		if err := r.get(ctx, "/v1/capas?limit=200&cursor="+url.QueryEscape(cursor), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
	return nil, fmt.Errorf("GET /v1/capas: more than 1000 pages")
}

// settle waits, at most within, until every workflow of the namespace is
// Running with no pending activity and no pending workflow task, and
// returns the IDs it found. What is still pending at the end is a problem.
// known are IDs the checks know of (creates answered, read-model rows):
// each is described even before the visibility store lists it (on
// Temporal's SQL visibility a new workflow is listed a moment after it
// starts, longer on a loaded machine), so a lagging list is not taken for
// a missing workflow.
func settle(ctx context.Context, s *stack, within time.Duration, known []string, probs *problems) []string {
	deadline := time.Now().Add(within)
	for {
		ids, stuck, err := describeAll(ctx, s, known)
		if err == nil && len(stuck) == 0 {
			return ids
		}
		if time.Now().After(deadline) {
			if err != nil {
				probs.add(catCheck, "list or describe workflows: %v", err)
			}
			for _, id := range ids {
				if why, ok := stuck[id]; ok {
					probs.add(catPending, "%s still %s after %s of settling", id, why, within)
				}
			}
			return ids
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// describeAll lists the namespace's CAPA workflows (the scenario's alone:
// every stack is new), adds the known IDs that are workflows, and
// describes each. stuck maps an ID to what it waits on.
func describeAll(ctx context.Context, s *stack, known []string) ([]string, map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ids []string
	var token []byte
	for {
		res, err := s.tc.WorkflowService().ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: s.opts.namespace, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list workflows: %w", err)
		}
		for _, e := range res.GetExecutions() {
			// CAPAs only: the engine may run workflows of its own (a
			// dispatcher, a schedule) that are not processes and may
			// legitimately have work pending.
			if id := e.GetExecution().GetWorkflowId(); strings.HasPrefix(id, opsflow.KindCAPA.IDPrefix()) {
				ids = append(ids, id)
			}
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	listed := map[string]bool{}
	for _, id := range ids {
		listed[id] = true
	}
	ids = append(ids, known...)
	slices.Sort(ids)
	ids = slices.Compact(ids) // continue-as-new lists one ID per run
	stuck := map[string]string{}
	var found []string
	for _, id := range ids {
		d, err := s.tc.DescribeWorkflowExecution(ctx, id, "")
		var notFound *serviceerror.NotFound
		if !listed[id] && errors.As(err, &notFound) {
			continue // known, but no workflow: verify says so
		}
		found = append(found, id)
		if err != nil {
			stuck[id] = fmt.Sprintf("not described: %v", err)
			continue
		}
		var why []string
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			why = append(why, "in status "+st.String()+" (a CAPA in investigation must be Running)")
		}
		for _, a := range d.GetPendingActivities() {
			w := fmt.Sprintf("with pending activity %s (%s, attempt %d", a.GetActivityType().GetName(), a.GetState(), a.GetAttempt())
			if f := a.GetLastFailure(); f != nil {
				w += ", last failure: " + f.GetMessage()
			}
			why = append(why, w+")")
		}
		if wt := d.GetPendingWorkflowTask(); wt != nil {
			why = append(why, fmt.Sprintf("with a pending workflow task (%s, attempt %d, scheduled %s ago)",
				wt.GetState(), wt.GetAttempt(), time.Since(wt.GetScheduledTime().AsTime()).Round(time.Second)))
		}
		if len(why) > 0 {
			stuck[id] = strings.Join(why, "; ")
		}
	}
	return found, stuck, nil
}

// knownIDs are the CAPA IDs the clients were told and the read model
// lists: what settle describes whether or not the visibility store lists
// it yet.
func knownIDs(ctx context.Context, capas []*capaRun, rd *reader) []string {
	var ids []string
	for _, c := range capas {
		if c.id != "" {
			ids = append(ids, c.id)
		}
	}
	rows, _ := rd.listCAPAs(ctx) // an error is verify's to report
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}

// verify checks, once the load has ended and the workflows have settled,
// for the CAPAs of one or more loads (every CAPA the stack holds),
// that every accepted request took effect exactly once in the read model
// and the audit trail, that no refused request took effect, and that every
// chain verifies without a gap.
func verify(ctx context.Context, capas []*capaRun, rd *reader, workflows []string, probs *problems) (checked struct{ rows, events int }) {
	rows, err := rd.listCAPAs(ctx)
	if err != nil {
		probs.add(catCheck, "list CAPAs: %v", err)
		return checked
	}
	checked.rows = len(rows)
	byTitle := map[string][]record{}
	byID := map[string]record{}
	for _, r := range rows {
		byTitle[r.Title] = append(byTitle[r.Title], r)
		if _, dup := byID[r.ID]; dup {
			probs.add(catReadModel, "%s is listed twice", r.ID)
		}
		byID[r.ID] = r
	}
	titles := map[string]bool{}
	for _, c := range capas {
		titles[c.title] = true
	}
	for _, r := range rows {
		if !titles[r.Title] {
			probs.add(catReadModel, "%s (%q) is a CAPA no client asked for", r.ID, r.Title)
		}
	}
	for _, id := range workflows {
		if _, ok := byID[id]; !ok {
			probs.add(catReadModel, "workflow %s has no read-model row (its projection never landed)", id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		if !slices.Contains(workflows, id) {
			probs.add(catReadModel, "row %s has no workflow in Temporal", id)
		}
	}

	totalEvents := 0
	for _, c := range capas {
		found := byTitle[c.title]
		create := result(c, 0)
		switch {
		case len(found) > 1:
			probs.add(catOnce, "CAPA #%d was created %d times (one Idempotency-Key): %v", c.n, len(found), ids(found))
			continue
		case len(found) == 0 && create != nil && create.outcome == accepted:
			probs.add(catReadModel, "CAPA #%d: create accepted as %s but there is no row", c.n, c.id)
			continue
		case len(found) == 0:
			continue // never created, and the client was never told otherwise
		}
		row := found[0]
		if create != nil && create.outcome == accepted && row.ID != c.id {
			probs.add(catReadModel, "CAPA #%d: create answered %s but the row is %s", c.n, c.id, row.ID)
		}
		totalEvents += verifyCAPA(ctx, rd, c, row.ID, probs)
	}

	checked.events = totalEvents
	var rep opsflow.VerifyReport
	if err := rd.get(ctx, "/v1/audit/verify", &rep); err != nil {
		probs.add(catCheck, "verify every chain: %v", err)
	} else {
		if !rep.OK {
			probs.add(catChain, "GET /v1/audit/verify: not ok, first break %+v", rep.Break)
		}
		// At least the CAPAs' streams: the engine may audit more (tokens,
		// templates), which is no concern of this suite.
		if rep.Events < totalEvents || rep.Streams < len(rows) {
			probs.add(catChain, "GET /v1/audit/verify covers %d events in %d streams; the CAPAs' trails alone hold %d events in %d streams",
				rep.Events, rep.Streams, totalEvents, len(rows))
		}
	}
	return checked
}

// verifyCAPA checks one CAPA's record and trail against what its client
// was told, and returns the number of events in its trail.
func verifyCAPA(ctx context.Context, rd *reader, c *capaRun, id string, probs *problems) int {
	var rec record
	if err := rd.get(ctx, "/v1/capas/"+id, &rec); err != nil {
		probs.add(catCheck, "CAPA #%d: %v", c.n, err)
		return 0
	}
	var trail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	if err := rd.get(ctx, "/v1/capas/"+id+"/audit", &trail); err != nil {
		probs.add(catCheck, "CAPA #%d: %v", c.n, err)
		return 0
	}
	events := trail.Items
	cid, task := rec.containment()
	if c.containment == "" {
		c.containment = cid // its create's answer never came: take it from the record
	}

	// The chain: sequence 1..n without a gap, every link verifies, and the
	// server's own verification agrees.
	for i, e := range events {
		if e.Seq != int64(i+1) {
			probs.add(catChain, "CAPA #%d %s: event %d of the trail has seq %d (a gap or a duplicate)", c.n, id, i+1, e.Seq)
			break
		}
	}
	if brk := opsflow.VerifyChain(events); brk != nil {
		probs.add(catChain, "CAPA #%d %s: chain breaks at %+v", c.n, id, *brk)
	}
	var rep opsflow.VerifyReport
	if err := rd.get(ctx, "/v1/audit/verify?stream="+url.QueryEscape(id), &rep); err != nil {
		probs.add(catCheck, "CAPA #%d: %v", c.n, err)
	} else if !rep.OK || rep.Events != len(events) {
		probs.add(catChain, "CAPA #%d %s: GET /v1/audit/verify?stream= says ok=%v over %d events (trail has %d), first break %+v",
			c.n, id, rep.OK, rep.Events, len(events), rep.Break)
	}

	// Each step's effect: once if accepted, never if refused, at most once
	// if the client never learnt the outcome, and all of a step's events or
	// none. The record's state follows the last step that took effect.
	count := func(ef effect) int {
		n := 0
		for _, e := range events {
			if e.Action == ef.action && e.Field == ef.field {
				n++
			}
		}
		return n
	}
	// The record must agree with its own trail: the state of the last step
	// whose events are there (whether the client was told so is the
	// business of the checks above, so one bug is reported once).
	wantState, wantTask, lastStep := steps[0].state, steps[0].task, steps[0].name
	for i := range steps {
		st := &steps[i]
		r := result(c, i)
		var seen []string
		some, all, dup := false, true, false
		for _, ef := range st.effect(c) {
			n := count(ef)
			seen = append(seen, fmt.Sprintf("%s %s ×%d", ef.action, ef.field, n))
			some, all, dup = some || n > 0, all && n > 0, dup || n > 1
		}
		what := fmt.Sprintf("CAPA #%d %s: step %s", c.n, id, st.name)
		trail := strings.Join(seen, ", ")
		switch {
		case r != nil && r.outcome == accepted && (!all || dup):
			probs.add(catOnce, "%s was accepted (attempts: %s), yet the trail has %s (want each once)", what, r.history(), trail)
		case r != nil && r.outcome == refused && some:
			probs.add(catRefused, "%s was refused with %d (attempts: %s), yet the trail has %s", what, r.status, r.history(), trail)
		case r == nil && some:
			probs.add(catOnce, "%s was never sent, yet the trail has %s", what, trail)
		case dup || (some && !all):
			probs.add(catOnce, "%s (%s, attempts: %s) left %s (want all once or none)", what, r.outcome, r.history(), trail)
		}
		if some {
			wantState, wantTask, lastStep = st.state, st.task, st.name
		}
	}
	if rec.State != wantState || task != wantTask {
		probs.add(catReadModel, "CAPA #%d %s is %q with containment %q, but its trail ends with step %s, after which it is %q with %q",
			c.n, id, rec.State, task, lastStep, wantState, wantTask)
	}
	return len(events)
}

// result is the logical request of step i of c, nil if never sent.
func result(c *capaRun, i int) *logical {
	if i < len(c.results) {
		return c.results[i]
	}
	return nil
}

func ids(rs []record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
