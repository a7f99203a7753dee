package server

import (
	"time"

	"github.com/opsflow/opsflow"
)

// Examples shown in the API reference, each checked against its schema and
// the API's own validation by a test.

var exampleTime = time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)

var exampleCAPA = opsflow.CAPARequest{
	Title: "Cracked housings on line 2", Type: "corrective",
	Source:      opsflow.CAPASource{Type: "complaint", Refs: []string{"CMP-1042"}},
	Problem:     opsflow.Problem{What: "housing cracks at the boss", HowMany: 3},
	Scope:       opsflow.Scope{Site: "Plant A", Line: "L2", Lots: []string{"42"}, QtyAffected: 120},
	Owner:       "alice",
	Containment: []opsflow.ActionInput{{Description: "quarantine lot 42", Owner: "dave", Due: opsflow.Due{Days: 1}}},
}

var exampleKaizen = opsflow.KaizenRequest{
	Title: "Flash scrap on line 4", ProblemStatement: "5% of housings scrapped for flash since October",
	KPI: "scrap-line-4", Sponsor: "bob",
	Baseline: &opsflow.Baseline{From: ptr(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)), To: ptr(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))},
	Target:   &opsflow.Target{Value: ptr(2.5), Date: ptr(time.Date(2027, 3, 31, 0, 0, 0, 0, time.UTC))},
}

var exampleOnboarding = onboardingRequest{
	Hire: opsflow.Hire{Name: "Noor Haddad", Email: "noor@example.com"}, Role: "office",
	Timezone: "Europe/Paris", ManagerID: "maya", MentorID: "erin", StartDate: "2026-12-01",
}

var exampleTemplate = templateRequest{Role: "lab-technician", Title: "Lab technician", Tasks: []opsflow.TaskTemplate{
	{ID: "contract", Title: "Sign the contract", OwnerType: "hire", BeginOffsetDays: -10, DueOffsetDays: -5, RequiredForDay1: true},
	{ID: "accounts", Title: "Create directory, e-mail and chat accounts", OwnerType: "it", BeginOffsetDays: -7, DueOffsetDays: -2,
		DependsOn: []string{"contract"}, Weight: 2, RequiredForDay1: true},
}}
