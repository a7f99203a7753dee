package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/internal/testenv"
	"github.com/opsflow/opsflow/postgres"
	"github.com/opsflow/opsflow/server"
)

// accessFixture is one process of each kind, a KPI, and the people of
// the test stack: what TestRouteAccess calls every route on.
type accessFixture struct {
	capa, kaizen, onboarding, kpi string
}

func newAccessFixture(t *testing.T, a *app) accessFixture {
	t.Helper()
	var f accessFixture
	var rec struct {
		ID string `json:"id"`
	}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Access fixture", "alice")).JSON(t, &rec)
	f.capa = rec.ID
	key, from, to := kaizenKPI(t, a)
	f.kpi = key
	f.kaizen = createKaizen(t, a, "alice", key, from, to, nil)
	start := time.Now().UTC().Add(20 * 24 * time.Hour).Format(time.DateOnly)
	a.Must(http.StatusCreated, "hana", "POST", "/v1/onboardings", map[string]any{
		"hire": map[string]any{"name": "Noor Haddad", "email": "noor@example.com"}, "role": "office",
		"template_version": 1, "timezone": "Europe/Paris", "manager_id": "maya", "mentor_id": "erin", "start_date": start}).JSON(t, &rec)
	f.onboarding = rec.ID
	return f
}

// TestRouteAccess calls every route of the op table as every role and
// checks the answer against the route's declared rule: a role rule
// answers 403 exactly to those without the role, a record rule 404
// exactly to those the read policy does not show the record (whatever
// the step would say), a list holds only what its reader may read. An op
// added without a rule fails here (and server.New refuses it).
func TestRouteAccess(t *testing.T) {
	a := newApp(t)
	f := newAccessFixture(t, a)
	ctx := context.Background()
	policy := opsflow.DefaultReadPolicy()
	ops := server.New(server.Config{}).Ops()
	readers := func(id string) (opsflow.Process, []opsflow.Task) {
		row, err := a.DB.GetProcess(ctx, "", id)
		if err != nil {
			t.Fatalf("read %s: %v", id, err)
		}
		tasks, err := opsflow.RecordTasks(row.Record)
		if err != nil {
			t.Fatal(err)
		}
		return row, tasks
	}
	for _, o := range ops {
		if o.Rule == "" {
			t.Errorf("%s %s (%s) declares no access rule", o.Method, o.Path, o.ID)
		}
	}
	// Steps that end a process go last, so the others meet it open.
	slices.SortStableFunc(ops, func(x, y server.OpAccess) int {
		last := func(o server.OpAccess) bool {
			return strings.HasSuffix(o.Path, "/cancel") || strings.HasSuffix(o.Path, "/abandon") || strings.HasSuffix(o.Path, "/decide")
		}
		switch {
		case last(x) && !last(y):
			return 1
		case !last(x) && last(y):
			return -1
		}
		return 0
	})
	for _, o := range ops {
		for _, u := range users {
			path, procID := o.Path, ""
			switch {
			case strings.HasPrefix(path, "/v1/capas/:id"), strings.HasPrefix(path, "/v1/admin/processes/:id"):
				procID = f.capa
			case strings.HasPrefix(path, "/v1/kaizen/:id"):
				procID = f.kaizen
			case strings.HasPrefix(path, "/v1/onboardings/:id"):
				procID = f.onboarding
			}
			var row opsflow.Process
			var tasks []opsflow.Task
			if procID != "" {
				row, tasks = readers(procID)
				path = strings.Replace(path, ":id", procID, 1)
				if strings.Contains(path, ":task_id") {
					if len(tasks) == 0 {
						t.Fatalf("%s has no task", procID)
					}
					path = strings.Replace(path, ":task_id", tasks[0].ID, 1)
				}
			}
			if strings.HasPrefix(path, "/v1/me/tokens/:id") {
				// One's own token: each user revokes one of theirs.
				_, own, err := a.DB.IssueTokenFor(ctx, postgres.TokenIssue{UserID: u.ID, Label: "route access"}, opsflow.ActorOf(u, time.Now()))
				if err != nil {
					t.Fatal(err)
				}
				path = strings.Replace(path, ":id", own.ID, 1)
			}
			path = strings.NewReplacer(":id", "alice", ":key", f.kpi, ":role", "office").Replace(path)
			who := u.ID
			if o.Rule == "public" {
				who = ""
			}
			var body any
			if o.Example != nil {
				body = signedAs(t, o.Example, u.ID)
			}
			res := a.Do(who, o.Method, path, body)
			name := o.Method + " " + o.Path + " as " + u.ID + " (" + o.Describe + ")"
			if res.Status == http.StatusUnauthorized || res.Status >= 500 {
				t.Errorf("%s: %d %s", name, res.Status, res.Body)
				continue
			}
			hasRole := len(o.Roles) == 0 || slices.ContainsFunc(o.Roles, u.Has)
			switch o.Rule {
			case "public", "any", "list":
				if res.Status == http.StatusForbidden || res.Status == http.StatusNotFound {
					t.Errorf("%s: %d %s", name, res.Status, res.Body)
				}
			case "roles":
				if got := res.Status == http.StatusForbidden; got != !hasRole {
					t.Errorf("%s: %d, has a role: %v: %s", name, res.Status, hasRole, res.Body)
				}
			case "kpi-owner": // the fixture's KPI is alice's
				if got := res.Status == http.StatusForbidden; got != (u.ID != "alice" && !hasRole) {
					t.Errorf("%s: %d %s", name, res.Status, res.Body)
				}
			case "self":
				if got := res.Status == http.StatusForbidden; got != (u.ID != "alice" && !u.Has(opsflow.RoleAdmin)) {
					t.Errorf("%s: %d %s", name, res.Status, res.Body)
				}
			case "record":
				acc := policy.Scope(u).Access(row, tasks)
				shown := acc == opsflow.ReadAccess || (!o.Full && acc == opsflow.TaskAccess)
				switch {
				case !hasRole:
					if res.Status != http.StatusForbidden {
						t.Errorf("%s: %d, want 403: %s", name, res.Status, res.Body)
					}
				case !shown:
					if res.Status != http.StatusNotFound {
						t.Errorf("%s: %d, want 404 (access %v): %s", name, res.Status, acc, res.Body)
					}
				case res.Status == http.StatusNotFound:
					t.Errorf("%s: 404, but the policy shows it (access %v): %s", name, acc, res.Body)
				case acc == opsflow.TaskAccess && res.Status == http.StatusOK && strings.Contains(string(res.Body), "noor@example.com"):
					t.Errorf("%s: a task holder sees the hire's e-mail: %s", name, res.Body)
				}
			}
			if o.Rule == "list" && res.Status == http.StatusOK {
				var page struct {
					Items []json.RawMessage `json:"items"`
				}
				res.JSON(t, &page)
				sc := policy.Scope(u)
				for _, it := range page.Items {
					var item struct {
						ID        string `json:"id"`
						ProcessID string `json:"process_id"`
					}
					_ = json.Unmarshal(it, &item)
					if item.ProcessID != "" { // an inbox task
						var tk opsflow.Task
						_ = json.Unmarshal(it, &tk)
						r, _ := readers(item.ProcessID)
						if !sc.CanRead(r) && !sc.HasTask(tk) {
							t.Errorf("%s lists task %s/%s, which is not theirs to see", name, item.ProcessID, tk.ID)
						}
						continue
					}
					if r, _ := readers(item.ID); !sc.CanRead(r) {
						t.Errorf("%s lists %s, which they may not read", name, item.ID)
					}
				}
			}
		}
	}
}

// TestWhoReadsWhat spells the policy out on the fixture: a CAPA is its
// participants', approvers', auditors' and admins'; an onboarding's
// personal data is HR's, the manager's and admins', and the mentor and IT
// see it without; the trail and exports follow.
func TestWhoReadsWhat(t *testing.T) {
	a := newApp(t)
	f := newAccessFixture(t, a)
	capa, onb := "/v1/capas/"+f.capa, "/v1/onboardings/"+f.onboarding
	for _, u := range []string{"alice", "dave", "bob", "erin", "carol", "root"} {
		a.Must(http.StatusOK, u, "GET", capa, nil)
		a.Must(http.StatusOK, u, "GET", capa+"/audit", nil)
	}
	for _, u := range []string{"hana", "ivan", "maya"} {
		if e := a.Must(http.StatusNotFound, u, "GET", capa, nil).Err(t); e.Code != opsflow.ENOTFOUND {
			t.Errorf("%s: %+v", u, e)
		}
		a.Must(http.StatusNotFound, u, "GET", capa+"/audit", nil)
	}
	// Exports: auditors and admins; an owner of the CAPA is not enough.
	a.Must(http.StatusOK, "carol", "GET", capa+"/export", nil)
	a.Must(http.StatusForbidden, "alice", "GET", capa+"/export", nil)
	// The lists are the same rules: hana's CAPA list does not hold it,
	// dave's (containment owner) does.
	if listed(a, "hana", "/v1/capas?limit=200", f.capa) || !listed(a, "dave", "/v1/capas?limit=200", f.capa) {
		t.Errorf("CAPA lists do not follow the policy")
	}

	for _, u := range []string{"hana", "maya", "root"} {
		if b := a.Must(http.StatusOK, u, "GET", onb, nil).Body; !strings.Contains(string(b), "noor@example.com") {
			t.Errorf("%s does not see the hire's e-mail: %s", u, b)
		}
		a.Must(http.StatusOK, u, "GET", onb+"/audit", nil)
	}
	for _, u := range []string{"erin", "ivan"} { // the mentor; IT, with a task in its queue
		var o opsflow.Onboarding
		a.Must(http.StatusOK, u, "GET", onb, nil).JSON(t, &o)
		if o.Hire.Email != "" || !o.Redacted || o.Hire.Name == "" {
			t.Errorf("%s sees %+v, want the onboarding without personal data", u, o.Hire)
		}
		a.Must(http.StatusNotFound, u, "GET", onb+"/audit", nil)
	}
	for _, u := range []string{"alice", "carol", "bob"} {
		a.Must(http.StatusNotFound, u, "GET", onb, nil)
	}
	if listed(a, "carol", "/v1/onboardings?limit=200", f.onboarding) || !listed(a, "maya", "/v1/onboardings?limit=200", f.onboarding) {
		t.Errorf("onboarding lists do not follow the policy")
	}
	// The inbox shows IT its queue's tasks of the onboarding.
	var inbox opsflow.Page[opsflow.TaskRow]
	a.Must(http.StatusOK, "ivan", "GET", "/v1/tasks?process_id="+f.onboarding+"&state=all", nil).JSON(t, &inbox)
	if len(inbox.Items) == 0 {
		t.Fatalf("IT sees no task of the onboarding")
	}
	for _, tk := range inbox.Items {
		if tk.Role != opsflow.RoleIT && tk.Assignee != "ivan" {
			t.Errorf("IT sees task %s (%s/%s) of an onboarding it does not read", tk.ID, tk.Assignee, tk.Role)
		}
	}
}

// TestAllStaffSetting: with CAPAs opened to all staff, HR reads one.
func TestAllStaffSetting(t *testing.T) {
	pol, err := opsflow.ParseAllStaff("capa, kaizen")
	if err != nil {
		t.Fatal(err)
	}
	a := newAppWith(t, func(c *server.Config) { c.ReadPolicy = &pol })
	var rec struct {
		ID string `json:"id"`
	}
	a.Must(http.StatusCreated, "alice", "POST", "/v1/capas", capaBody("Open to all", "alice")).JSON(t, &rec)
	a.Must(http.StatusOK, "hana", "GET", "/v1/capas/"+rec.ID, nil)
	var e *opsflow.Error
	if _, err := opsflow.ParseAllStaff("capas"); !errors.As(err, &e) || e.Field != "read-all-staff" {
		t.Errorf("an unknown kind: %v", err)
	}
}

// signedAs is an example body with its signature, if any, made by user:
// their name and signing password in place of the example's.
func signedAs(t *testing.T, example any, user string) any {
	b, err := json.Marshal(example)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return example
	}
	mark := func(s map[string]any) {
		s["printed_name"], s["signing_password"] = nameOf(user), SigningPassword(user)
	}
	if s, ok := m["signature"].(map[string]any); ok {
		mark(s)
	}
	if _, ok := m["signing_password"]; ok {
		mark(m)
	}
	return m
}

// TestAccessLog: reads of a record and its trail, and exports, are logged
// with who, what, which record and when; an auditor reads the log; the
// application may not delete from it.
func TestAccessLog(t *testing.T) {
	a := newApp(t)
	id := newCAPA(a, "Logged reads")
	before := time.Now().UTC().Add(-time.Second)
	a.Must(http.StatusOK, "dave", "GET", "/v1/capas/"+id, nil)
	a.Must(http.StatusOK, "bob", "GET", "/v1/capas/"+id+"/audit", nil)
	a.Must(http.StatusOK, "carol", "GET", "/v1/capas/"+id+"/export?format=csv", nil)
	a.Must(http.StatusNotFound, "hana", "GET", "/v1/capas/"+id, nil) // not shown: not logged as a read
	a.Must(http.StatusForbidden, "dave", "GET", "/v1/admin/access-log", nil)
	var page opsflow.Page[opsflow.AccessEntry]
	a.Must(http.StatusOK, "carol", "GET", "/v1/admin/access-log?record="+id, nil).JSON(t, &page)
	got := map[string]string{}
	for _, e := range page.Items {
		if e.RecordID != id || e.Kind != opsflow.KindCAPA || e.At.Before(before) || e.RequestID == "" {
			t.Errorf("entry %+v", e)
		}
		got[e.UserID] = e.Action
	}
	if len(page.Items) != 3 || got["dave"] != "read" || got["bob"] != "read_audit" || got["carol"] != "export" {
		t.Errorf("access log of %s: %+v", id, page.Items)
	}
	// The application role may only append to the log.
	app, err := openSQL(testenv.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if _, err := app.Exec(`DELETE FROM access_log WHERE record_id = $1`, id); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("the application deleted access log entries: %v", err)
	}
}
