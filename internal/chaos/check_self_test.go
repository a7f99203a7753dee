package chaos

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// The checks are the suite's value: these tests feed them a fake API with
// one CAPA whose trail breaks each promise in turn, so a check that stops
// seeing a broken promise fails here, not silently in the scenarios.

// trail builds a hash-chained trail of (action, field) pairs.
func trail(stream string, pairs ...effect) []opsflow.AuditEvent {
	var out []opsflow.AuditEvent
	prev := ""
	at := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i, p := range pairs {
		e := opsflow.AuditEvent{ID: opsflow.EventID(stream, int64(i+1)), Stream: stream, Seq: int64(i + 1), At: at,
			ActorID: "alice", Action: p.action, Field: p.field, PrevHash: prev}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// fakeAPI serves one CAPA's record and trail the way opsflow's API does.
func fakeAPI(t *testing.T, rec record, events []opsflow.AuditEvent) *reader {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/capas/{id}", func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(rec) })
	mux.HandleFunc("GET /v1/capas/{id}/audit", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"items": events})
	})
	mux.HandleFunc("GET /v1/audit/verify", func(w http.ResponseWriter, _ *http.Request) {
		brk := opsflow.VerifyChain(events)
		_ = json.NewEncoder(w).Encode(opsflow.VerifyReport{OK: brk == nil, Streams: 1, Events: len(events), Break: brk})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &reader{base: srv.URL, token: "t", hc: srv.Client()}
}

func TestChecksCatchBrokenPromises(t *testing.T) {
	const id = "capa-1"
	created := []effect{{"capa.reported", "state"}, {"capa.owner_assigned", "owner"}}
	triaged := []effect{{"capa.risk_scored", "risk"}, {"capa.triaged", "state"}}
	decided := []effect{{"capa.decided", "decision.capa_required"}, {"capa.containment_started", "state"}}
	cat := func(parts ...[]effect) []effect {
		var out []effect
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	// The client's view: create and triage accepted, decide refused.
	run := func() *capaRun {
		c := &capaRun{n: 1, id: id, containment: "containment-1"}
		c.results = []*logical{
			{capa: c, step: &steps[0], outcome: accepted, trace: []string{"201"}},
			{capa: c, step: &steps[1], outcome: accepted, trace: []string{"500", "200"}},
			{capa: c, step: &steps[2], outcome: refused, status: 401, trace: []string{"500", "401"}},
		}
		return c
	}
	rec := func(state string) record {
		r := record{ID: id, State: state}
		r.Containment = append(r.Containment, struct {
			ID         string `json:"id"`
			Status     string `json:"status"`
			VerifiedBy string `json:"verified_by"`
		}{ID: "containment-1", Status: "open"})
		return r
	}
	tampered := trail(id, cat(created, triaged)...)
	tampered[2].New = "S5×O5×D5 = 125"
	gap := trail(id, cat(created, triaged)...)
	gap = append(gap[:1], gap[2:]...)

	for _, tc := range []struct {
		name   string
		rec    record
		events []opsflow.AuditEvent
		want   map[string]string // category → a phrase its line must hold; empty: no problem at all
	}{
		{"kept", rec("triage"), trail(id, cat(created, triaged)...), nil},
		{"applied twice", rec("triage"), trail(id, cat(created, triaged, triaged[:1])...),
			map[string]string{catOnce: "step triage was accepted (attempts: 500 → 200), yet the trail has capa.risk_scored risk ×2"}},
		{"accepted but lost", rec("reported"), trail(id, created...),
			map[string]string{catOnce: "step triage was accepted"}},
		{"refused but applied", rec("containment"), trail(id, cat(created, triaged, decided)...),
			map[string]string{catRefused: "step decide was refused with 401 (attempts: 500 → 401)"}},
		{"applied in part", rec("triage"), trail(id, cat(created, triaged[:1])...),
			map[string]string{catOnce: "step triage was accepted (attempts: 500 → 200), yet the trail has capa.risk_scored risk ×1, capa.triaged state ×0"}},
		{"record behind its trail", rec("reported"), trail(id, cat(created, triaged)...),
			map[string]string{catReadModel: `is "reported" with containment "open", but its trail ends with step triage`}},
		{"tampered", rec("triage"), tampered, map[string]string{catChain: "hash does not match"}},
		{"gap", rec("triage"), gap, map[string]string{catChain: "event 2 of the trail has seq 3", catOnce: "capa.owner_assigned owner ×0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var probs problems
			rd := fakeAPI(t, tc.rec, tc.events)
			rd.probs = &probs
			verifyCAPA(context.Background(), rd, run(), id, &probs)
			for cat, lines := range probs {
				phrase, ok := tc.want[cat]
				if !ok {
					t.Errorf("unexpected %s: %q", cat, lines)
					continue
				}
				if !strings.Contains(strings.Join(lines, "\n"), phrase) {
					t.Errorf("%s: %q lacks %q", cat, lines, phrase)
				}
			}
			for cat := range tc.want {
				if len(probs[cat]) == 0 {
					t.Errorf("no %s reported", cat)
				}
			}
		})
	}
}

func TestRecoveryTimes(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	c := &capaRun{n: 1}
	l := &load{logicals: []*logical{
		{capa: c, step: &steps[0], start: at(0), end: at(1), outcome: accepted},     // before the fault: not counted
		{capa: c, step: &steps[1], start: at(2), end: at(14), outcome: accepted},    // in flight at the end (10 s): done +4 s
		{capa: c, step: &steps[2], start: at(5), end: at(12), outcome: refused},     // in flight, refused: done +2 s
		{capa: c, step: &steps[3], start: at(11), end: at(11.5), outcome: accepted}, // first write +1.5 s
	}}
	l.total.Store(4)
	got := l.recovery(at(10))
	if got.firstWrite != 1500*time.Millisecond || got.allInFlight != 4*time.Second || got.inFlight != 2 {
		t.Errorf("recovery %+v", got)
	}
	l.logicals = append(l.logicals, &logical{capa: c, step: &steps[4], start: at(9), outcome: gaveUp, end: at(100)})
	if got := l.recovery(at(10)); got.allInFlight != never || !strings.Contains(got.String(), "done never") {
		t.Errorf("with a request that never got an answer: %+v %s", got, got)
	}
	l.logicals = l.logicals[:1]
	if got := l.recovery(at(10)); got.firstWrite != notApplicable || got.allInFlight != notApplicable {
		t.Errorf("with nothing left after the fault: %+v", got)
	}
}
