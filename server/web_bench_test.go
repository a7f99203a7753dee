package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

// BenchmarkWebListPages renders every list page of the web app — my work,
// the CAPA register (plain and filtered), the Kaizen board, the onboarding
// board, the KPI list — against a database of 10,000 records of each
// kind (30,000 processes, 120,000 tasks), through the whole handler: the
// session, the in-process API reads, the templates. It reports each page's
// p50 and p99; the target is a p99 under 50 ms. Numbers, never assertions:
//
//	go test -run '^$' -bench WebListPages -benchtime 200x ./server/
func BenchmarkWebListPages(b *testing.B) {
	ctx := context.Background()
	url, err := testenv.NewDatabase(ctx)
	if err != nil {
		b.Fatal(err)
	}
	db, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	start := time.Now()
	raw, err := sql.Open("postgres", url)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if err := seedRecords(ctx, raw, n); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d records of each kind in %s", n, time.Since(start).Round(time.Millisecond))
	alice := opsflow.User{ID: "alice", Name: "Alice Martin", Roles: []opsflow.Role{opsflow.RoleRequester, opsflow.RoleOwner}}
	if _, err := db.CreateToken(ctx, alice, "bench"); err != nil {
		b.Fatal(err)
	}
	secret, err := db.StartSession(ctx, opsflow.NewSession{UserID: "alice", Method: "token", TTL: time.Hour, Idle: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	h := server.New(server.Config{Store: db, Logger: slog.New(slog.DiscardHandler)})
	for _, p := range []struct{ name, page string }{
		{"my-work", "/"}, {"capa-register", "/capas"}, {"capa-register-filtered", "/capas?state=investigation&risk_level=high"},
		{"kaizen-board", "/kaizen"}, {"onboarding-board", "/onboardings"}, {"onboarding-board-overdue", "/onboardings?overdue=true"}, {"kpis", "/kpis"},
	} {
		page := p.page
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", page, nil)
				req.AddCookie(&http.Cookie{Name: "opsflow_session", Value: secret})
				rec := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(rec, req)
				took = append(took, time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %.300s", page, rec.Code, rec.Body)
				}
			}
			slices.Sort(took)
			q := func(p float64) float64 {
				return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}

// seedRecords writes n processes of each kind, with realistic records
// (made from the domain's types) and four tasks each, in a few
// statements: writing them through workflows would take an hour.
func seedRecords(ctx context.Context, db *sql.DB, n int) error {
	now := time.Now().UTC()
	due := now.Add(48 * time.Hour)
	tasks := func(prefix string) []opsflow.Task {
		return []opsflow.Task{
			{ID: prefix + "-1", Kind: "phase", Title: "Investigate the root cause", Assignee: "alice", State: opsflow.TaskOpen, DueAt: &due, Weight: 1},
			{ID: prefix + "-2", Kind: "action", Title: "Calibrate the torque tools", Assignee: "dave", State: opsflow.TaskOpen, DueAt: &due, Weight: 1},
			{ID: prefix + "-3", Kind: "phase", Title: "Approve the plan", Role: opsflow.RoleApprover, State: opsflow.TaskOpen, DueAt: &due, Weight: 1},
			{ID: prefix + "-4", Kind: "containment", Title: "Quarantine the lot", Assignee: "alice", State: opsflow.TaskDone, Weight: 1},
		}
	}
	capa := opsflow.CAPA{Title: "Housing cracks at the boss", Type: "corrective", State: opsflow.CAPAInvestigation, Owner: "alice", ReportedBy: "alice",
		Source: opsflow.CAPASource{Type: "complaint", Refs: []string{"CMP-1042"}}, Problem: opsflow.Problem{What: "three housings cracked at the screw boss", Where: "line 2", HowMany: 3},
		Risk: &opsflow.Risk{Severity: 4, Occurrence: 3, Detection: 4, Score: 48, Level: "high", Model: opsflow.RiskModel}, Cycle: 1, OpenedAt: now, DueAt: &due,
		Containment: []opsflow.ContainmentAction{{ID: "containment-1", Description: "Quarantine lot 42", Owner: "alice", DueAt: due, Status: opsflow.TaskDone}},
		Actions:     []opsflow.Action{}, Extensions: []opsflow.Extension{}, Signatures: []opsflow.Signature{}, Tasks: tasks("t")}
	kaizen := opsflow.Kaizen{Phase: opsflow.KaizenPlan, Cycle: 1, Title: "Flash on cavity 1 and 2", ProblemStatement: "scrap on line 4 is 5 %",
		KPI: opsflow.KPIRef{Key: "scrap", Name: "Scrap rate, line 4", Unit: "%", Direction: opsflow.LowerIsBetter}, Sponsor: "bob", Owner: "alice", OpenedAt: now,
		Impact: []opsflow.ImpactEntry{}, History: []opsflow.KaizenCycle{}, Tasks: tasks("t")}
	onb := opsflow.Onboarding{State: opsflow.OnboardingPreboarding, Hire: opsflow.Hire{Name: "Noor Haddad", Email: "noor@example.com"},
		Placement: opsflow.Placement{Role: "office", Timezone: "UTC", ManagerID: "maya", StartDate: "2026-12-08", StartAt: due},
		Template:  opsflow.TemplateRef{Role: "office", Version: 1, Title: "Office role"}, Board: opsflow.Board{Tasks: tasks("t")},
		CheckIns: []opsflow.CheckIn{}, Provisioning: []opsflow.ProvisionStatus{}, Progress: 35, OverdueCount: 1, Day: opsflow.Duration(24 * time.Hour)}
	for _, k := range []struct {
		kind   opsflow.Kind
		record any
		states []string
		search string
	}{
		{opsflow.KindCAPA, capa, []string{"reported", "triage", "containment", "investigation", "action_plan", "implementation", "closed"},
			`jsonb_build_object('risk_level', (ARRAY['low','medium','high','critical'])[1 + i % 4], 'source', 'complaint', 'type', 'corrective')`},
		{opsflow.KindKaizen, kaizen, []string{"triage", "plan", "do", "check", "act", "sustain", "closed"}, `jsonb_build_object('sponsor', 'bob', 'kpi', 'scrap')`},
		{opsflow.KindOnboarding, onb, []string{"pending", "preboarding", "day_one", "in_progress", "completed"},
			`jsonb_build_object('manager', 'maya', 'role', 'office', 'overdue', CASE WHEN i % 3 = 0 THEN 'true' ELSE 'false' END, 'start_date', '2026-12-08')`},
	} {
		rec, err := json.Marshal(k.record)
		if err != nil {
			return err
		}
		t, err := json.Marshal(tasks("t")[0])
		if err != nil {
			return err
		}
		prefix := k.kind.IDPrefix() + "bench-"
		states, _ := json.Marshal(k.states)
		field := k.kind.StateField()
		if _, err := db.ExecContext(ctx, `
			INSERT INTO processes (id, kind, state, title, owner_id, opened_at, due_at, version, record, search)
			SELECT $1 || i, $2, st, 'Record ' || i, 'alice', now() - i * interval '1 minute', now() + (i % 200 - 20) * interval '1 hour', 1,
				$3::jsonb || jsonb_build_object('id', $1 || i, $6::text, st, 'title', 'Record ' || i), `+k.search+`
			FROM generate_series(1, $4::int) AS i,
				LATERAL (SELECT ($5::jsonb ->> (i % jsonb_array_length($5::jsonb)))) AS s(st)`,
			prefix, k.kind, string(rec), n, string(states), field); err != nil {
			return fmt.Errorf("seed %s: %w", k.kind, err)
		}
		// Four tasks each: one assigned to alice (a tenth of them open),
		// one to dave, one in the approvers' queue, one done.
		if _, err := db.ExecContext(ctx, `
			INSERT INTO tasks (process_id, task_id, process_kind, process_title, kind, title, assignee, role, state, due_at, weight, data, version)
			SELECT $1 || i, 't-' || j, $2, 'Record ' || i, 'phase', 'Task ' || j,
				CASE j WHEN 1 THEN 'alice' WHEN 2 THEN 'dave' WHEN 4 THEN 'alice' ELSE '' END,
				CASE j WHEN 3 THEN 'approver' ELSE '' END,
				CASE WHEN j = 4 OR (j = 1 AND i % 10 <> 0) THEN 'done' ELSE 'open' END,
				now() + (i % 200 - 20) * interval '1 hour', 1,
				$3::jsonb || jsonb_build_object('id', 't-' || j, 'assignee', CASE j WHEN 1 THEN 'alice' WHEN 2 THEN 'dave' WHEN 4 THEN 'alice' ELSE '' END,
					'state', CASE WHEN j = 4 OR (j = 1 AND i % 10 <> 0) THEN 'done' ELSE 'open' END), 1
			FROM generate_series(1, $4::int) AS i, generate_series(1, 4) AS j`,
			prefix, k.kind, string(t), n); err != nil {
			return fmt.Errorf("seed %s tasks: %w", k.kind, err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO kpis (key, name, unit, direction, owner_id, created_by) VALUES ('scrap', 'Scrap rate, line 4', '%', 'lower', 'alice', 'alice') ON CONFLICT DO NOTHING`); err != nil {
		return fmt.Errorf("seed kpi: %w", err)
	}
	_, err := db.ExecContext(ctx, `ANALYZE`)
	return err
}
