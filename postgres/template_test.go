package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestDefaultTemplatesAreSeededAndValid(t *testing.T) {
	ctx := context.Background()
	all, err := testDB.LatestTemplates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]bool{}
	for _, tpl := range all {
		roles[tpl.Role] = true
		if err := tpl.Validate(); err != nil {
			t.Errorf("default template %s v%d is invalid: %v", tpl.Role, tpl.Version, err)
		}
	}
	if !roles["office"] || !roles["warehouse"] {
		t.Fatalf("default roles missing: %v", roles)
	}
}

func TestTemplateVersions(t *testing.T) {
	ctx := context.Background()
	tpl := opsflow.OnboardingTemplate{Role: "lab-tech", Title: "Lab technician", CreatedBy: "hana", Tasks: []opsflow.TaskTemplate{
		{ID: "gown", Title: "Lab coat", OwnerType: opsflow.OwnerFacilities, BeginOffsetDays: -3, DueOffsetDays: 0},
	}}
	v1, created, err := testDB.CreateTemplate(ctx, tpl)
	if err != nil || !created || v1.Version != 1 || v1.CreatedBy != "hana" {
		t.Fatalf("first: %+v created=%v err=%v", v1, created, err)
	}
	again, created, err := testDB.CreateTemplate(ctx, tpl)
	if err != nil || created || again.Version != 1 {
		t.Fatalf("unchanged template made a new version: %+v created=%v err=%v", again, created, err)
	}
	tpl.Tasks = append(tpl.Tasks, opsflow.TaskTemplate{ID: "safety", Title: "Safety course", OwnerType: opsflow.OwnerManager, DueOffsetDays: 3, DependsOn: []string{"gown"}})
	v2, created, err := testDB.CreateTemplate(ctx, tpl)
	if err != nil || !created || v2.Version != 2 || len(v2.Tasks) != 2 {
		t.Fatalf("changed: %+v created=%v err=%v", v2, created, err)
	}
	old, err := testDB.Template(ctx, "lab-tech", 1)
	if err != nil || len(old.Tasks) != 1 {
		t.Fatalf("version 1 after version 2: %+v %v", old, err)
	}
	latest, err := testDB.Template(ctx, "lab-tech", 0)
	if err != nil || latest.Version != 2 {
		t.Fatalf("latest: %+v %v", latest, err)
	}
	if _, err := testDB.Template(ctx, "lab-tech", 9); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("missing version: %v", err)
	}
	if _, err := testDB.Template(ctx, "astronaut", 0); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("missing role: %v", err)
	}
	tpl.Tasks[0].OwnerType = "quality"
	if _, _, err := testDB.CreateTemplate(ctx, tpl); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("invalid template stored: %v", err)
	}
	if _, err := testDB.db.ExecContext(ctx, `UPDATE onboarding_templates SET title = 'x' WHERE role = 'lab-tech'`); err == nil {
		t.Error("a template version was rewritten")
	}
}

func TestListOnboardingsByStartDate(t *testing.T) {
	ctx := context.Background()
	opened := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	for i, d := range []string{"2026-12-01", "2026-12-15", "2027-01-05"} {
		rec, _ := json.Marshal(map[string]string{"start_date": d})
		err := testDB.SaveSnapshot(ctx, opsflow.Snapshot{Process: opsflow.Process{
			ID: "onb-list-" + d, Kind: opsflow.KindOnboarding, State: "pending", Version: 1,
			OpenedAt: opened.Add(time.Duration(i) * time.Minute), Record: rec,
			Search: map[string]string{"start_date": d, "manager": "maya", "overdue": "false"},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	f := opsflow.ProcessFilter{Kind: opsflow.KindOnboarding, SearchFrom: map[string]string{"start_date": "2026-12-01"}, SearchTo: map[string]string{"start_date": "2027-01-01"}}
	f.Search = map[string]string{"manager": "maya"}
	f.Limit = 1
	var ids []string
	for {
		page, err := testDB.ListProcesses(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Items {
			ids = append(ids, p.ID)
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if len(ids) != 2 || ids[0] != "onb-list-2026-12-15" || ids[1] != "onb-list-2026-12-01" {
		t.Errorf("start-date range gave %v", ids)
	}
}
