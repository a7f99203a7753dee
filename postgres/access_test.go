package postgres

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// TestReadScopeSQL holds the SQL of the read policy to its Go: for people
// of every role, under two policies, the lists (paged two at a time, so
// keyset pagination is exercised with the filter) hold exactly the
// processes ReadScope.CanRead admits, and the inbox exactly the tasks of
// those processes plus the ones ReadScope.HasTask gives them.
func TestReadScopeSQL(t *testing.T) {
	ctx := t.Context()
	tag := strings.ToLower(uniqueStream(t))
	opened := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().UnixNano() % int64(24*time.Hour)))
	type proc struct {
		kind   opsflow.Kind
		record string
		tasks  []opsflow.Task
	}
	task := func(id, assignee string, role opsflow.Role) opsflow.Task {
		return opsflow.Task{ID: id, Title: id, State: opsflow.TaskOpen, Assignee: assignee, Role: role}
	}
	procs := []proc{
		{opsflow.KindCAPA, `{"reported_by":"rita","owner":"oscar","containment":[{"owner":"cora"}],"actions":[{"owner":"adam"}]}`,
			[]opsflow.Task{task("t1", "oscar", ""), task("t2", "", opsflow.RoleApprover)}},
		{opsflow.KindCAPA, `{"reported_by":"oscar","owner":"oscar","effectiveness":{"plan":{"reviewer":"rev"}}}`,
			[]opsflow.Task{task("t1", "tess", "")}},
		{opsflow.KindKaizen, `{"submitted_by":"rita","owner":"kim","sponsor":"spon","team":["tm"],"plan":{"countermeasures":[{"owner":"cm"}]}}`,
			[]opsflow.Task{task("t1", "kim", "")}},
		{opsflow.KindOnboarding, `{"hire":{"name":"N","email":"n@example.com"},"placement":{"manager_id":"mgr","mentor_id":"ment"}}`,
			[]opsflow.Task{task("t1", "ment", ""), task("t2", "", opsflow.RoleIT), task("t3", "mgr", opsflow.RoleManager)}},
		{opsflow.KindOnboarding, `{"hire":{"name":"M","email":"m@example.com"},"placement":{"manager_id":"mgr2"}}`,
			[]opsflow.Task{task("t1", "", opsflow.RoleHR)}},
	}
	var rows []opsflow.Process
	for i, p := range procs {
		id := fmt.Sprintf("%s%s-%d", p.kind.IDPrefix(), tag, i)
		s := opsflow.Snapshot{Process: opsflow.Process{ID: id, Kind: p.kind, State: "open", Title: id,
			OpenedAt: opened.Add(time.Duration(i) * time.Second), Version: 1, Record: json.RawMessage(p.record)}, Tasks: p.tasks}
		if err := testDB.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
		row, err := testDB.GetProcess(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row)
	}
	if got := rows[0].Participants; !slices.Equal(got, []string{"adam", "cora", "oscar", "rita"}) {
		t.Errorf("participants of the CAPA: %v", got)
	}
	if got := rows[3].Participants; !slices.Equal(got, []string{"mgr"}) {
		t.Errorf("participants of the onboarding: %v (the mentor sees it through tasks only)", got)
	}

	people := []opsflow.User{
		{ID: "rita", Roles: []opsflow.Role{opsflow.RoleRequester}},
		{ID: "oscar", Roles: []opsflow.Role{opsflow.RoleOwner}},
		{ID: "ment", Roles: []opsflow.Role{opsflow.RoleOwner}},
		{ID: "mgr", Roles: []opsflow.Role{opsflow.RoleManager}},
		{ID: "ivan", Roles: []opsflow.Role{opsflow.RoleIT}},
		{ID: "hana", Roles: []opsflow.Role{opsflow.RoleHR}},
		{ID: "bob", Roles: []opsflow.Role{opsflow.RoleApprover}},
		{ID: "carol", Roles: []opsflow.Role{opsflow.RoleAuditor}},
		{ID: "root", Roles: []opsflow.Role{opsflow.RoleAdmin}},
		{ID: "nobody", Roles: []opsflow.Role{opsflow.RoleRequester}},
	}
	policies := []opsflow.ReadPolicy{opsflow.DefaultReadPolicy(), {AllStaff: []opsflow.Kind{opsflow.KindCAPA}}}
	for _, pol := range policies {
		for _, u := range people {
			sc := pol.Scope(u)
			name := fmt.Sprintf("%v/%s", pol.AllStaff, u.ID)
			var want []string
			for _, r := range rows {
				if sc.CanRead(r) {
					want = append(want, r.ID)
				}
			}
			var got []string
			f := opsflow.ProcessFilter{Scope: &sc, Limit: 2, OpenedFrom: &opened}
			to := opened.Add(time.Minute)
			f.OpenedTo = &to
			for {
				page, err := testDB.ListProcesses(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range page.Items {
					if strings.Contains(p.ID, tag) {
						got = append(got, p.ID)
					}
				}
				if page.NextCursor == "" {
					break
				}
				f.Cursor = page.NextCursor
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: processes listed %v, the policy reads %v", name, got, want)
			}

			var wantTasks, gotTasks []string
			for i, r := range rows {
				for _, tk := range procs[i].tasks {
					if sc.CanRead(r) || sc.HasTask(tk) {
						wantTasks = append(wantTasks, r.ID+"/"+tk.ID)
					}
				}
			}
			tf := opsflow.TaskFilter{Scope: &sc, Limit: 50}
			for {
				page, err := testDB.ListTasks(ctx, tf)
				if err != nil {
					t.Fatal(err)
				}
				for _, tk := range page.Items {
					if strings.Contains(tk.ProcessID, tag) {
						gotTasks = append(gotTasks, tk.ProcessID+"/"+tk.ID)
					}
				}
				if page.NextCursor == "" {
					break
				}
				tf.Cursor = page.NextCursor
			}
			slices.Sort(wantTasks)
			slices.Sort(gotTasks)
			if !slices.Equal(gotTasks, wantTasks) {
				t.Errorf("%s: inbox %v, the policy shows %v", name, gotTasks, wantTasks)
			}
		}
	}
	// The inbox shows the IT queue's task to IT, not the onboarding itself.
	it := opsflow.DefaultReadPolicy().Scope(people[4])
	if a := it.Access(rows[3], procs[3].tasks); a != opsflow.TaskAccess {
		t.Errorf("IT's access to an onboarding with a task in its queue: %v, want TaskAccess", a)
	}
	if a := it.Access(rows[4], procs[4].tasks); a != opsflow.NoAccess {
		t.Errorf("IT's access to an onboarding without its tasks: %v, want NoAccess", a)
	}
}

// TestBackfillParticipants: rows written before migration 00030 get their
// participants from Migrate.
func TestBackfillParticipants(t *testing.T) {
	ctx := t.Context()
	id := "capa-" + strings.ToLower(uniqueStream(t))
	if err := testDB.SaveSnapshot(ctx, opsflow.Snapshot{Process: opsflow.Process{ID: id, Kind: opsflow.KindCAPA, State: "reported",
		OpenedAt: time.Now(), Version: 1, Record: json.RawMessage(`{"reported_by":"rita","owner":"oscar"}`)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ownerDB.db.ExecContext(ctx, `UPDATE processes SET participants = NULL WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := BackfillParticipants(ctx, ownerDB); err != nil {
		t.Fatal(err)
	}
	row, err := testDB.GetProcess(ctx, opsflow.KindCAPA, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(row.Participants, []string{"oscar", "rita"}) {
		t.Errorf("participants after the backfill: %v", row.Participants)
	}
}
