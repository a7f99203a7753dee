package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/client"
	"github.com/opsflow/opsflow/server"
)

// capaApp is an app whose process day lasts a second, so due dates,
// escalations and the effectiveness window pass while the test waits.
func capaApp(t *testing.T) *app {
	return newAppWith(t, func(c *server.Config) { c.Day = time.Second })
}

func capaBody(title, owner string) map[string]any {
	return map[string]any{
		"title": title, "type": "corrective",
		"source":      map[string]any{"type": "complaint", "refs": []string{"CMP-1042"}},
		"problem":     map[string]any{"what": "housing cracks at the boss", "how_many": 3},
		"scope":       map[string]any{"site": "Plant A", "line": "L2", "lots": []string{"42"}, "qty_affected": 120},
		"owner":       owner,
		"containment": []any{map[string]any{"description": "quarantine lot 42", "owner": "dave", "due_days": 30}},
	}
}

// capaRecord is the part of a CAPA record the tests look at.
type capaRecord struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Owner   string `json:"owner"`
	Cycle   int    `json:"cycle"`
	Actions []struct {
		ID string `json:"id"`
	} `json:"actions"`
	Containment []struct {
		ID         string `json:"id"`
		VerifiedBy string `json:"verified_by"`
	} `json:"containment"`
	Risk *struct {
		Score int    `json:"score"`
		Level string `json:"level"`
	} `json:"risk"`
	Signatures []opsflow.Signature `json:"signatures"`
	Tasks      []opsflow.Task      `json:"tasks"`
	Cycles     []struct {
		Cycle int `json:"cycle"`
	} `json:"cycles"`
}

func (a *app) capa(id string) capaRecord {
	a.t.Helper()
	var r capaRecord
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id, nil).JSON(a.t, &r)
	return r
}

func (a *app) step(want int, user, id, step string, body any) capaRecord {
	a.t.Helper()
	var r capaRecord
	res := a.Must(want, user, "POST", "/v1/capas/"+id+"/"+step, body)
	if want == http.StatusOK {
		res.JSON(a.t, &r)
	}
	return r
}

// toImplementation drives a new CAPA owned by owner to implementation and
// returns its ID and its first action's ID. It goes through the API's Go
// client, typed by the domain's step table.
func (a *app) toImplementation(title, owner string) (string, string) {
	a.t.Helper()
	ctx := context.Background()
	c := a.Client("alice")
	created, err := c.CreateCAPA(ctx, opsflow.CAPARequest{Title: title, Type: "corrective",
		Source:  opsflow.CAPASource{Type: "complaint", Refs: []string{"CMP-1042"}},
		Problem: opsflow.Problem{What: "housing cracks at the boss", HowMany: 3},
		Scope:   opsflow.Scope{Site: "Plant A", Line: "L2", Lots: []string{"42"}, QtyAffected: 120}, Owner: owner,
		Containment: []opsflow.ActionInput{{Description: "quarantine lot 42", Owner: "dave", Due: opsflow.Due{Days: 30}}}})
	if err != nil {
		a.t.Fatalf("create: %v", err)
	}
	id := created.ID
	step := func(user string, do func(*client.Client) (opsflow.CAPA, error)) opsflow.CAPA {
		a.t.Helper()
		r, err := do(a.Client(user))
		if err != nil {
			a.t.Fatalf("%s on %s: %v", user, id, err)
		}
		return r
	}
	s := opsflow.CAPAStep
	r := step(owner, func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.Triage, id, opsflow.TriageInput{Severity: 4, Occurrence: 3, Detection: 4})
	})
	if r.State != opsflow.CAPATriage || r.Risk.Level != "high" || r.Risk.Score != 48 {
		a.t.Fatalf("after triage: %+v", r)
	}
	yes := true
	step("bob", func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.Decide, id, opsflow.DecideInput{Required: &yes, Rationale: "customer impact"})
	})
	if _, err := a.Client("dave").Task(ctx, opsflow.KindCAPA, id, created.Containment[0].ID, "complete", opsflow.TaskAction{Evidence: []string{"QN-881"}}); err != nil {
		a.t.Fatalf("containment: %v", err)
	}
	step(owner, func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.VerifyContainment, id, opsflow.VerifyContainmentInput{Comment: "0 cracked units left in stock"})
	})
	step(owner, func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.RecordInvestigation, id, opsflow.InvestigationInput{Investigation: opsflow.Investigation{
			Problem: opsflow.Problem{What: "cracks", Where: "line 2", When: "week 47", HowMany: 3}, Method: "both",
			Whys:        []opsflow.Why{{Question: "Why did it crack?", Answer: "over-torqued", Evidence: "torque log"}},
			Fishbone:    []opsflow.FishboneCause{{Category: "machine", Cause: "torque tool drift"}},
			RootCauses:  []opsflow.RootCause{{Statement: "torque tool out of calibration", Category: "machine", Verified: true, Evidence: "CAL-2231"}},
			EscapePoint: "final inspection does not check torque", Extent: []string{"line 3 uses the same tool"},
		}})
	})
	step(owner, func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.ProposePlan, id, opsflow.PlanInput{
			Actions:       []opsflow.ActionInput{{Kind: opsflow.ActionCorrective, Description: "calibrate torque tools", Owner: "dave", Due: opsflow.Due{Days: 30}}},
			Effectiveness: opsflow.EffectivenessPlan{Metric: "crack rate", Criterion: "0 in 3 lots", WindowDays: 2}})
	})
	r = step("bob", func(c *client.Client) (opsflow.CAPA, error) {
		return client.Step[opsflow.CAPA](ctx, c, s.ApprovePlan, id, opsflow.ApprovePlanInput{Approved: &yes, Comment: "ok"})
	})
	if r.State != opsflow.CAPAImplementation || len(r.Actions) != 1 {
		a.t.Fatalf("after approval: %+v", r)
	}
	return id, r.Actions[0].ID
}

// toReview completes and verifies the action, then waits for the
// effectiveness window (2 process days) to end.
func (a *app) toReview(id, action string) {
	a.t.Helper()
	if r := a.step(200, "dave", id, "complete-action", map[string]any{"action_id": action, "evidence": map[string]any{"text": "14 tools calibrated", "refs": []string{"CAL-2240"}}}); r.State != "verification" {
		a.t.Fatalf("after the last action: %s", r.State)
	}
	if r := a.step(200, "bob", id, "verify-implementation", map[string]any{"implemented_as_planned": true, "no_adverse_effect": true, "adverse_effect_assessment": "cycle time unchanged"}); r.State != "effectiveness_check" {
		a.t.Fatalf("after verification: %s", r.State)
	}
	// Too early: the window is still running.
	if e := a.Must(409, "bob", "POST", "/v1/capas/"+id+"/record-effectiveness", map[string]any{"outcome": "effective", "evidence": map[string]any{"text": "x"}}).Err(a.t); e.State != "effectiveness_check" {
		a.t.Errorf("early review: %+v", e)
	}
	a.Eventually("the effectiveness review opens", 20*time.Second, func() bool {
		for _, t := range a.capa(id).Tasks {
			if t.Kind == "effectiveness" && t.State == opsflow.TaskOpen {
				return true
			}
		}
		return false
	})
}

func (a *app) audit(id string) []opsflow.AuditEvent {
	a.t.Helper()
	var trail struct {
		Items []opsflow.AuditEvent `json:"items"`
	}
	a.Must(200, "carol", "GET", "/v1/capas/"+id+"/audit", nil).JSON(a.t, &trail)
	return trail.Items
}

func TestCAPALifecycleToSignedClosure(t *testing.T) {
	a := capaApp(t)
	id, action := a.toImplementation("Cracked housings, lifecycle", "alice")
	a.toReview(id, action)
	if r := a.step(200, "bob", id, "record-effectiveness", map[string]any{"outcome": "effective", "data": "0 cracks in 4 lots", "evidence": map[string]any{"text": "SPC chart", "refs": []string{"SPC-12"}}}); r.State != "awaiting_signature" {
		t.Errorf("judged effective: state %s, want awaiting_signature", r.State)
	}
	if !listed(a, "carol", "/v1/capas?state=awaiting_signature", id) {
		t.Errorf("the CAPA awaiting its signature is not listed under state=awaiting_signature")
	}
	sign := map[string]any{"printed_name": "Bob Chen", "meaning": "approved for closure", "token": Token("bob")}
	// A wrong token, or another person's, does not sign.
	bad := map[string]any{"printed_name": "Bob Chen", "meaning": "approved for closure", "token": "opsf_wrong"}
	a.Must(401, "bob", "POST", "/v1/capas/"+id+"/sign-closure", bad)
	bad["token"] = Token("erin")
	a.Must(403, "bob", "POST", "/v1/capas/"+id+"/sign-closure", bad)
	r := a.step(200, "bob", id, "sign-closure", sign)
	if r.State != "closed" || len(r.Signatures) != 1 {
		t.Fatalf("after signing: %+v", r)
	}
	sig := r.Signatures[0]
	if sig.SignerID != "bob" || sig.PrintedName != "Bob Chen" || sig.Meaning != "approved for closure" || len(sig.RecordHash) != 64 || sig.SignedAt.Location() != time.UTC {
		t.Errorf("signature %+v", sig)
	}
	// Closed: no more changes, 409 with the state.
	if e := a.Must(409, "alice", "POST", "/v1/capas/"+id+"/cancel", map[string]any{"reason": "x"}).Err(t); e.State != "closed" {
		t.Errorf("cancel after closure: %+v", e)
	}
	// The trail: who, role, what, old → new, and it verifies; the token
	// appears nowhere.
	events := a.audit(id)
	if brk := opsflow.VerifyChain(events); brk != nil {
		t.Fatalf("chain: %+v", brk)
	}
	var sawApproval bool
	for _, e := range events {
		if strings.Contains(e.Old+e.New+e.Reason, Token("bob")) {
			t.Fatalf("the token leaked into event %s", e.ID)
		}
		if e.Action == "capa.plan_approved" && e.ActorID == "bob" && e.ActorRole == "approver" {
			sawApproval = true
		}
	}
	if !sawApproval {
		t.Errorf("no plan approval by bob as approver in the trail")
	}
	if m := a.Must(200, "carol", "GET", "/v1/audit/verify?stream="+id, nil).Map(t); m["ok"] != true {
		t.Errorf("verify: %v", m)
	}
	// Exports: the pack verifies, and fails after one byte changes.
	pack := a.Must(200, "carol", "GET", "/v1/capas/"+id+"/export?format=json", nil).Body
	rep, err := opsflow.VerifyPack(bytes.NewReader(pack))
	if err != nil || !rep.OK || rep.Signatures != 1 || rep.Events != len(events) {
		t.Fatalf("pack: %+v %v", rep, err)
	}
	// The independent Python verifier agrees; a pack cut before its seal,
	// with the title edited, fails both.
	pythonVerifier(t, pack, true)
	var cut opsflow.InspectionPack
	if err := json.Unmarshal(pack, &cut); err != nil {
		t.Fatal(err)
	}
	pr := &cut.Records[0]
	pr.Timeline = pr.Timeline[:len(pr.Timeline)-1]
	pr.Head = &opsflow.PackHead{Seq: pr.Timeline[len(pr.Timeline)-1].Seq, Hash: pr.Timeline[len(pr.Timeline)-1].Hash}
	pr.Record = bytes.Replace(pr.Record, []byte(`"Cracked housings`), []byte(`"Cosmetic marks`), 1)
	trimmed, _ := json.Marshal(cut)
	if rep, err := opsflow.VerifyPack(bytes.NewReader(trimmed)); err != nil || rep.OK {
		t.Errorf("trimmed pack: %+v %v", rep, err)
	}
	pythonVerifier(t, trimmed, false)
	for _, target := range []string{`"action": "capa.plan_approved"`, `"meaning": "approved for closure"`, `"escape_point": "final inspection`} {
		i := bytes.Index(pack, []byte(target))
		if i < 0 {
			t.Fatalf("%s not in the pack", target)
		}
		tampered := bytes.Clone(pack)
		tampered[i+len(target)-2] ^= 0x01 // one letter of the value
		rep, err := opsflow.VerifyPack(bytes.NewReader(tampered))
		if err != nil || rep.OK || rep.Break == nil {
			t.Errorf("tampered at %s: %+v %v", target, rep, err)
		} else {
			t.Logf("tampered at %s: first break %+v", target, *rep.Break)
		}
	}
	csvBody := a.Must(200, "carol", "GET", "/v1/capas/"+id+"/export?format=csv", nil).Body
	rows, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
	if err != nil || len(rows) != len(events)+1 || rows[0][0] != "capa_id" || rows[1][0] != id {
		t.Errorf("csv: %d rows, %v", len(rows), err)
	}
	// The range export is for auditors and holds this CAPA.
	q := url.Values{"closed_from": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, "closed_to": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}
	a.Must(403, "alice", "GET", "/v1/capas/export?"+q.Encode(), nil)
	a.Must(422, "carol", "GET", "/v1/capas/export?closed_from=2026-01-01", nil)
	rangePack := a.Must(200, "carol", "GET", "/v1/capas/export?"+q.Encode(), nil).Body
	if !bytes.Contains(rangePack, []byte(`"id": "`+id+`"`)) {
		t.Errorf("range export lacks %s", id)
	}
	if rep, err := opsflow.VerifyPack(bytes.NewReader(rangePack)); err != nil || !rep.OK {
		t.Errorf("range pack: %+v %v", rep, err)
	}
	q.Set("format", "csv")
	a.Must(200, "carol", "GET", "/v1/capas/export?"+q.Encode(), nil)
	// Lists filter by state, risk level, owner and source.
	var page struct {
		Items []capaRecord `json:"items"`
	}
	a.Must(200, "carol", "GET", "/v1/capas?state=closed&risk_level=high&owner=alice&source=complaint&limit=200", nil).JSON(t, &page)
	found := false
	for _, c := range page.Items {
		found = found || c.ID == id
	}
	if !found {
		t.Errorf("list did not find %s", id)
	}
	saveHistory(t, a, id, "capa_lifecycle_engine2")
}

func TestCAPAReopenPath(t *testing.T) {
	a := capaApp(t)
	id, action := a.toImplementation("Cracked housings, reopen", "alice")
	a.toReview(id, action)
	// The owner may not judge their own CAPA's effectiveness.
	a.Must(403, "alice", "POST", "/v1/capas/"+id+"/record-effectiveness", map[string]any{"outcome": "effective", "evidence": map[string]any{"text": "x"}})
	a.Must(422, "bob", "POST", "/v1/capas/"+id+"/record-effectiveness", map[string]any{"outcome": "ineffective", "evidence": map[string]any{"text": "2 cracks"}})
	r := a.step(200, "bob", id, "record-effectiveness", map[string]any{"outcome": "ineffective", "evidence": map[string]any{"text": "2 cracks in lot 47"}, "reason": "cracks recur"})
	if r.State != "investigation" || r.Cycle != 2 || len(r.Cycles) != 1 || r.Cycles[0].Cycle != 1 {
		t.Fatalf("after ineffective: state %s cycle %d cycles %+v", r.State, r.Cycle, r.Cycles)
	}
	var reopened bool
	for _, e := range a.audit(id) {
		if e.Action == "capa.reopened" && e.Old == "effectiveness_check" && e.New == "investigation" && e.Reason == "ineffective: cracks recur" {
			reopened = true
		}
	}
	if !reopened {
		t.Errorf("the reopen is not in the audit trail with its reason")
	}
	// Cancelling needs a reason; then the record is final.
	if e := a.Must(422, "alice", "POST", "/v1/capas/"+id+"/cancel", map[string]any{"reason": ""}).Err(t); e.Field != "reason" {
		t.Errorf("cancel without reason: %+v", e)
	}
	if r := a.step(200, "alice", id, "cancel", map[string]any{"reason": "superseded by a design change"}); r.State != "cancelled" {
		t.Errorf("cancel: %s", r.State)
	}
	saveHistory(t, a, id, "capa_reopen_cancel_engine2")
}

func TestCAPASeparationOfDuties(t *testing.T) {
	a := capaApp(t)
	// erin is both approver and owner; on her own CAPA she may not approve.
	var c capaRecord
	a.Must(201, "erin", "POST", "/v1/capas", capaBody("Burr on shaft, SoD", "erin")).JSON(t, &c)
	a.step(200, "erin", c.ID, "triage", map[string]any{"severity": 2, "occurrence": 2, "detection": 2})
	e := a.Must(403, "erin", "POST", "/v1/capas/"+c.ID+"/decide", map[string]any{"capa_required": true, "rationale": "mine"}).Err(t)
	if e.Code != "forbidden" || !strings.Contains(e.Message, "separation of duties") {
		t.Errorf("self-decision: %+v", e)
	}
	// A plan approved by its own owner: 403, and nothing changes.
	id, _ := a.toImplementation("Burr on shaft, plan SoD", "alice")
	_ = id
	var d capaRecord
	a.Must(201, "alice", "POST", "/v1/capas", capaBody("Plan approval SoD", "erin")).JSON(t, &d)
	a.step(200, "erin", d.ID, "triage", map[string]any{"severity": 2, "occurrence": 2, "detection": 2})
	a.step(200, "bob", d.ID, "decide", map[string]any{"capa_required": true, "rationale": "recurring"})
	a.Must(200, "dave", "POST", "/v1/capas/"+d.ID+"/tasks/"+d.Containment[0].ID+"/complete", nil)
	a.step(200, "erin", d.ID, "verify-containment", map[string]any{"comment": "ok"})
	// dave did the containment: he may not verify it.
	a.step(200, "erin", d.ID, "record-investigation", map[string]any{
		"problem": map[string]any{"what": "burr", "where": "cell 4", "when": "Monday", "how_many": 1}, "method": "5_whys",
		"whys":         []any{map[string]any{"question": "why?", "answer": "worn deburr tool"}},
		"root_causes":  []any{map[string]any{"statement": "worn tool", "category": "machine", "verified": true, "evidence": "tool inspection"}},
		"escape_point": "visual check", "extent_review": "cells 1-6 checked: none",
	})
	a.step(200, "erin", d.ID, "propose-plan", map[string]any{
		"actions":       []any{map[string]any{"kind": "corrective", "description": "replace tool", "owner": "dave", "due_days": 30}},
		"effectiveness": map[string]any{"metric": "burr rate", "criterion": "0 in 2 weeks", "window_days": 2},
	})
	e = a.Must(403, "erin", "POST", "/v1/capas/"+d.ID+"/approve-plan", map[string]any{"approved": true}).Err(t)
	if !strings.Contains(e.Message, "separation of duties") {
		t.Errorf("self-approval: %+v", e)
	}
	if r := a.capa(d.ID); r.State != "action_plan" {
		t.Errorf("state after a refused approval: %s", r.State)
	}
	for _, ev := range a.audit(d.ID) {
		if ev.Action == "capa.plan_approved" {
			t.Errorf("a refused approval left an event: %+v", ev)
		}
	}
	// The implementer may not verify; the requester of an extension may not grant it.
	a.step(200, "bob", d.ID, "approve-plan", map[string]any{"approved": true})
	r := a.capa(d.ID)
	a.step(200, "dave", d.ID, "request-extension", map[string]any{"task_id": r.Actions[0].ID, "new_due": time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339), "reason": "supplier lead time"})
	a.Must(403, "dave", "POST", "/v1/capas/"+d.ID+"/decide-extension", map[string]any{"approved": true})
	a.step(200, "bob", d.ID, "decide-extension", map[string]any{"approved": true, "comment": "agreed"})
	a.step(200, "dave", d.ID, "complete-action", map[string]any{"action_id": r.Actions[0].ID, "evidence": map[string]any{"text": "replaced"}})
	a.Must(403, "dave", "POST", "/v1/capas/"+d.ID+"/verify-implementation", map[string]any{"implemented_as_planned": true, "no_adverse_effect": true, "adverse_effect_assessment": "x"})
	saveHistory(t, a, d.ID, "capa_extension_engine2")
}

func TestCAPAConcurrentDuplicateStarts(t *testing.T) {
	a := capaApp(t)
	title := fmt.Sprintf("Duplicate start %d", time.Now().UnixNano())
	key := "dup-" + title
	var wg sync.WaitGroup
	ids := make([]string, 20)
	statuses := make([]int, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := a.Do("alice", "POST", "/v1/capas", capaBody(title, "alice"), "Idempotency-Key", key)
			statuses[i] = r.Status
			if r.Status == 201 || r.Status == 200 {
				var c capaRecord
				r.JSON(t, &c)
				ids[i] = c.ID
			}
		}()
	}
	wg.Wait()
	for i := range 20 {
		if statuses[i] != 201 || ids[i] != ids[0] || ids[0] == "" {
			t.Fatalf("request %d: status %d id %q (first %q)", i, statuses[i], ids[i], ids[0])
		}
	}
	var page struct {
		Items []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"items"`
	}
	a.Must(200, "carol", "GET", "/v1/capas?owner=alice&state=reported&limit=200", nil).JSON(t, &page)
	n := 0
	for _, c := range page.Items {
		if c.Title == title {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d CAPAs titled %q, want 1", n, title)
	}
	reported := 0
	for _, e := range a.audit(ids[0]) {
		if e.Action == "capa.reported" {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("%d capa.reported events, want 1", reported)
	}
}

func TestCAPAWorkerRestartLosesNothing(t *testing.T) {
	a := capaApp(t)
	var c capaRecord
	a.Must(201, "alice", "POST", "/v1/capas", capaBody("Worker restart", "alice")).JSON(t, &c)
	a.step(200, "alice", c.ID, "triage", map[string]any{"severity": 3, "occurrence": 3, "detection": 3})
	a.StopWorker()
	done := make(chan response, 1)
	go func() {
		done <- a.Do("bob", "POST", "/v1/capas/"+c.ID+"/decide", map[string]any{"capa_required": true, "rationale": "sent while the worker was down"}, "Idempotency-Key", "decide-once")
	}()
	select {
	case r := <-done:
		t.Fatalf("the update answered without a worker: %d %s", r.Status, r.Body)
	case <-time.After(2 * time.Second):
	}
	a.StartWorker()
	var r response
	select {
	case r = <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("the update did not complete after the worker restarted")
	}
	if r.Status != 200 {
		t.Fatalf("decide after restart: %d %s", r.Status, r.Body)
	}
	// The client retries the same request: the same update, applied once.
	a.Must(200, "bob", "POST", "/v1/capas/"+c.ID+"/decide", map[string]any{"capa_required": true, "rationale": "sent while the worker was down"}, "Idempotency-Key", "decide-once")
	if got := a.capa(c.ID); got.State != "containment" {
		t.Fatalf("state %s", got.State)
	}
	events := a.audit(c.ID)
	decided := 0
	for i, e := range events {
		if e.Seq != int64(i+1) {
			t.Fatalf("gap or duplicate at %d: seq %d", i, e.Seq)
		}
		if e.Action == "capa.decided" {
			decided++
		}
	}
	if decided != 1 {
		t.Errorf("%d decisions recorded, want 1", decided)
	}
	if m := a.Must(200, "carol", "GET", "/v1/audit/verify?stream="+c.ID, nil).Map(t); m["ok"] != true {
		t.Errorf("verify: %v", m)
	}
}

func TestCAPABadInputs(t *testing.T) {
	a := capaApp(t)
	var c capaRecord
	a.Must(201, "alice", "POST", "/v1/capas", capaBody("Bad inputs", "alice")).JSON(t, &c)
	missing := capaBody("x", "alice")
	delete(missing, "source")
	badDue := capaBody("x", "alice")
	badDue["containment"] = []any{map[string]any{"description": "x", "owner": "dave"}}
	cases := []struct {
		name, user, method, path string
		body                     any
		status                   int
		field, state             string
	}{
		{"malformed JSON", "alice", "POST", "/v1/capas", `{"title": `, 422, "", ""},
		{"unknown field", "alice", "POST", "/v1/capas", map[string]any{"title": "x", "colour": "red"}, 422, "colour", ""},
		{"missing field", "alice", "POST", "/v1/capas", missing, 422, "source.type", ""},
		{"missing nested due", "alice", "POST", "/v1/capas", badDue, 422, "containment[0].due", ""},
		{"wrong type", "alice", "POST", "/v1/capas", map[string]any{"title": 7}, 422, "title", ""},
		{"no role", "hana", "POST", "/v1/capas", capaBody("x", "alice"), 403, "", ""},
		{"actor in body", "bob", "POST", "/v1/capas/" + c.ID + "/decide", map[string]any{"actor": map[string]any{"id": "erin"}, "capa_required": true, "rationale": "x"}, 422, "actor", ""},
		{"bad risk factor", "alice", "POST", "/v1/capas/" + c.ID + "/triage", map[string]any{"severity": 9, "occurrence": 1, "detection": 1}, 422, "severity", ""},
		{"wrong state", "bob", "POST", "/v1/capas/" + c.ID + "/approve-plan", map[string]any{"approved": true}, 409, "", "reported"},
		{"wrong state sign", "bob", "POST", "/v1/capas/" + c.ID + "/sign-closure", map[string]any{"printed_name": "Bob Chen", "meaning": "x", "token": Token("bob")}, 409, "", "reported"},
		{"sign needs token", "bob", "POST", "/v1/capas/" + c.ID + "/sign-closure", map[string]any{"printed_name": "Bob Chen", "meaning": "x"}, 422, "token", ""},
		{"unknown capa", "bob", "GET", "/v1/capas/capa-nope", nil, 404, "", ""},
		{"bad list filter", "bob", "GET", "/v1/capas?risk_level=huge", nil, 422, "risk_level", ""},
		{"bad export format", "carol", "GET", "/v1/capas/" + c.ID + "/export?format=xml", nil, 422, "format", ""},
		{"phase task move", "alice", "POST", "/v1/capas/" + c.ID + "/tasks/triage-2/complete", nil, 409, "", "reported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := a.Must(tc.status, tc.user, tc.method, tc.path, tc.body).Err(t)
			if e.Field != tc.field || e.State != tc.state || e.Message == "" {
				t.Errorf("error %+v, want field %q state %q", e, tc.field, tc.state)
			}
		})
	}
	if r := a.capa(c.ID); r.State != "reported" {
		t.Errorf("bad inputs changed the CAPA: %s", r.State)
	}
}

// Overdue work is reminded, then escalated tier by tier (owner, approver,
// admin), each recorded in the trail and queued as a notification; the
// step then goes on as usual. (A process day is a second here.)
func TestCAPAEscalatesOverdueWork(t *testing.T) {
	a := capaApp(t)
	var c capaRecord
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Overdue triage", "alice")).JSON(t, &c)
	a.Eventually("three escalation tiers", 30*time.Second, func() bool {
		n := 0
		for _, e := range a.audit(c.ID) {
			if e.Action == "task.escalated" && strings.HasPrefix(e.Field, "tasks.triage") {
				n++
			}
		}
		return n == 3
	})
	var tiers []string
	for _, e := range a.audit(c.ID) {
		if e.Action == "task.escalated" && strings.HasPrefix(e.Field, "tasks.triage") {
			tiers = append(tiers, e.Reason[strings.LastIndex(e.Reason, " ")+1:])
		}
	}
	if len(tiers) != 3 || tiers[0] != "alice" || tiers[1] != "approver" || tiers[2] != "admin" {
		t.Errorf("the triage task escalated to %v; want alice, approver, admin", tiers)
	}
	ns, err := a.DB.Notifications(context.Background(), "admin", 1000)
	if err != nil || !anyNotification(ns, c.ID) {
		t.Errorf("no escalation notification to admin: %v", err)
	}
	if r := a.step(http.StatusOK, "alice", c.ID, "triage", map[string]any{"severity": 3, "occurrence": 3, "detection": 3}); r.State != "triage" {
		t.Errorf("after the late triage: %s", r.State)
	}
	saveHistory(t, a, c.ID, "capa_escalation_engine2")
}

// pythonVerifier runs docs/verify_pack.py, the verifier in another
// language an auditor can read in full, on a pack.
func pythonVerifier(t *testing.T, pack []byte, wantOK bool) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the independent verifier is not run")
	}
	f := filepath.Join(t.TempDir(), "pack.json")
	if err := os.WriteFile(f, pack, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, filepath.Join("..", "docs", "verify_pack.py"), f).CombinedOutput()
	if (err == nil) != wantOK {
		t.Errorf("python verifier: %s (err %v), want ok=%v", out, err, wantOK)
	} else {
		t.Logf("python verifier: %s", bytes.TrimSpace(out))
	}
}
