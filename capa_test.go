package opsflow

import (
	"testing"
	"time"
)

func TestScoreRisk(t *testing.T) {
	cases := []struct {
		s, o, d   int
		score     int
		level     string
		wantField string
	}{
		{1, 1, 1, 1, RiskLow, ""},
		{2, 2, 3, 12, RiskLow, ""},
		{3, 5, 1, 15, RiskMedium, ""},
		{5, 1, 1, 5, RiskHigh, ""}, // severity 5 is never below high
		{4, 5, 2, 40, RiskHigh, ""},
		{4, 4, 5, 80, RiskCritical, ""},
		{5, 5, 5, 125, RiskCritical, ""},
		{0, 1, 1, 0, "", "severity"},
		{1, 6, 1, 0, "", "occurrence"},
		{1, 1, -1, 0, "", "detection"},
	}
	for _, c := range cases {
		r, err := ScoreRisk(c.s, c.o, c.d)
		if c.wantField != "" {
			if e, ok := err.(*Error); !ok || e.Field != c.wantField || e.Code != EINVALID {
				t.Errorf("ScoreRisk(%d,%d,%d): err %v, want invalid %s", c.s, c.o, c.d, err, c.wantField)
			}
			continue
		}
		if err != nil || r.Score != c.score || r.Level != c.level || r.Model != RiskModel {
			t.Errorf("ScoreRisk(%d,%d,%d) = %+v, %v; want %d %s", c.s, c.o, c.d, r, err, c.score, c.level)
		}
	}
}

func validRequest() CAPARequest {
	return CAPARequest{Title: "Cracked housings on line 2", Type: CAPATypeCorrective,
		Source: CAPASource{Type: "complaint", Refs: []string{"CMP-1"}}, Problem: Problem{What: "cracks", HowMany: 3},
		Containment: []ActionInput{{Description: "quarantine lot 42", Owner: "dave", Due: Due{Days: 1}}}}
}

func TestCAPARequestValidate(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		edit  func(*CAPARequest)
		field string
	}{
		{"valid", func(*CAPARequest) {}, ""},
		{"no title", func(r *CAPARequest) { r.Title = " " }, "title"},
		{"bad type", func(r *CAPARequest) { r.Type = "fix" }, "type"},
		{"bad source", func(r *CAPARequest) { r.Source.Type = "rumour" }, "source.type"},
		{"no what", func(r *CAPARequest) { r.Problem.What = "" }, "problem.what"},
		{"negative qty", func(r *CAPARequest) { r.Scope.QtyAffected = -1 }, "scope.qty_affected"},
		{"containment owner", func(r *CAPARequest) { r.Containment[0].Owner = "" }, "containment[0].owner"},
		{"containment no due", func(r *CAPARequest) { r.Containment[0].Days = 0 }, "containment[0].due"},
		{"containment both dues", func(r *CAPARequest) { r.Containment[0].At = &at }, "containment[0].due"},
		{"containment kind", func(r *CAPARequest) { r.Containment[0].Kind = "corrective" }, "containment[0].kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := validRequest()
			c.edit(&r)
			checkField(t, r.Validate(), c.field)
		})
	}
}

func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	e, ok := err.(*Error)
	if !ok || e.Code != EINVALID || e.Field != field {
		t.Fatalf("got %v, want invalid field %s", err, field)
	}
}

func TestInvestigationValidate(t *testing.T) {
	valid := func() InvestigationInput {
		return InvestigationInput{Investigation: Investigation{
			Problem:     Problem{What: "cracks", Where: "line 2", When: "week 47", HowMany: 3},
			Method:      "both",
			Whys:        []Why{{Question: "why cracked?", Answer: "overtorqued"}},
			Fishbone:    []FishboneCause{{Category: "machine", Cause: "torque tool drift"}},
			RootCauses:  []RootCause{{Statement: "uncalibrated tool", Category: "machine", Verified: true, Evidence: "cal report"}},
			EscapePoint: "final inspection", ExtentReview: "lines 1-4 checked: none",
		}}
	}
	cases := []struct {
		name  string
		edit  func(*InvestigationInput)
		field string
	}{
		{"valid", func(*InvestigationInput) {}, ""},
		{"no where", func(i *InvestigationInput) { i.Problem.Where = "" }, "problem.where"},
		{"no how many", func(i *InvestigationInput) { i.Problem.HowMany = 0 }, "problem.how_many"},
		{"bad method", func(i *InvestigationInput) { i.Method = "guess" }, "method"},
		{"no rca", func(i *InvestigationInput) { i.Whys, i.Fishbone = nil, nil }, "whys"},
		{"both needs fishbone", func(i *InvestigationInput) { i.Fishbone = nil }, "fishbone"},
		{"bad 6M", func(i *InvestigationInput) { i.Fishbone[0].Category = "money" }, "fishbone[0].category"},
		{"root cause category", func(i *InvestigationInput) { i.RootCauses[0].Category = "" }, "root_causes[0].category"},
		{"verified needs evidence", func(i *InvestigationInput) { i.RootCauses[0].Evidence = "" }, "root_causes[0].evidence"},
		{"nothing verified", func(i *InvestigationInput) { i.RootCauses[0].Verified = false }, "root_causes"},
		{"no escape point", func(i *InvestigationInput) { i.EscapePoint = "" }, "escape_point"},
		{"no extent", func(i *InvestigationInput) { i.ExtentReview = "" }, "extent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := valid()
			c.edit(&in)
			checkField(t, in.Validate(), c.field)
		})
	}
}

func TestStepInputsValidate(t *testing.T) {
	yes, no := true, false
	plan := PlanInput{Actions: []ActionInput{{Kind: ActionCorrective, Description: "calibrate", Owner: "dave", Due: Due{Days: 5}}},
		Effectiveness: EffectivenessPlan{Metric: "crack rate", Criterion: "0 in 3 lots", WindowDays: 30}}
	prev := plan
	prev.Actions = []ActionInput{{Kind: ActionPreventive, Description: "PM schedule", Owner: "dave", Due: Due{Days: 5}}}
	noWindow := plan
	noWindow.Effectiveness.WindowDays = 0
	cases := []struct {
		name  string
		err   error
		field string
	}{
		{"decide ok", DecideInput{Required: &yes, Rationale: "recurring"}.Validate(), ""},
		{"decide missing", DecideInput{Rationale: "x"}.Validate(), "capa_required"},
		{"decide rationale", DecideInput{Required: &no}.Validate(), "rationale"},
		{"plan ok", plan.Validate(CAPATypeCorrective), ""},
		{"plan needs corrective", prev.Validate(CAPATypeCorrective), "actions"},
		{"preventive capa ok", prev.Validate(CAPATypePreventive), ""},
		{"plan window", noWindow.Validate(CAPATypeCorrective), "effectiveness.window_days"},
		{"approve missing", ApprovePlanInput{}.Validate(), "approved"},
		{"reject needs comment", ApprovePlanInput{Approved: &no}.Validate(), "comment"},
		{"complete needs evidence", CompleteActionInput{ActionID: "a"}.Validate(), "evidence.text"},
		{"verify failed needs comment", VerifyImplementationInput{ImplementedAsPlanned: &yes, NoAdverseEffect: &no, AdverseEffectAssessment: "x"}.Validate(), "comment"},
		{"effectiveness outcome", EffectivenessInput{Outcome: "meh", Evidence: Evidence{Text: "x"}}.Validate(), "outcome"},
		{"ineffective needs reason", EffectivenessInput{Outcome: OutcomeIneffective, Evidence: Evidence{Text: "x"}}.Validate(), "reason"},
		{"effective ok", EffectivenessInput{Outcome: OutcomeEffective, Evidence: Evidence{Text: "x"}}.Validate(), ""},
		{"sign own name", SignInput{Actor: Actor{Name: "Bob Chen"}, PrintedName: "Someone Else", Meaning: "approved"}.Validate(), "printed_name"},
		{"sign meaning", SignInput{Actor: Actor{Name: "Bob Chen"}, PrintedName: "bob chen"}.Validate(), "meaning"},
		{"sign ok", SignInput{Actor: Actor{Name: "Bob Chen"}, PrintedName: "Bob Chen", Meaning: "approved for closure"}.Validate(), ""},
		{"extension reason", ExtensionInput{TaskID: "t", NewDue: time.Now()}.Validate(), "reason"},
		{"cancel reason", CancelInput{}.Validate(), "reason"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkField(t, c.err, c.field) })
	}
}

func TestCheckStep(t *testing.T) {
	cases := []struct {
		step  string
		state CAPAState
		ok    bool
	}{
		{"triage", CAPAReported, true},
		{"triage", CAPATriage, false},
		{"approve-plan", CAPAActionPlan, true},
		{"approve-plan", CAPAImplementation, false},
		{"sign-closure", CAPAEffectiveness, true},
		{"cancel", CAPAVerification, true},
		{"cancel", CAPAClosed, false},
		{"request-extension", CAPACancelled, false},
	}
	for _, c := range cases {
		err := CheckStep(c.step, c.state)
		if c.ok != (err == nil) {
			t.Errorf("CheckStep(%s, %s) = %v", c.step, c.state, err)
		}
		if e, ok := err.(*Error); err != nil && (!ok || e.Code != ECONFLICT || e.State != string(c.state)) {
			t.Errorf("CheckStep(%s, %s): %v, want conflict naming the state", c.step, c.state, err)
		}
	}
}

func TestRecordHashIsCanonical(t *testing.T) {
	a, _ := RecordHash([]byte(`{"b": 1, "a": "x<y", "n": 12345678901234567890}`))
	b, _ := RecordHash([]byte(`{"a":"x\u003cy","n":12345678901234567890,"b":1}`))
	c, _ := RecordHash([]byte(`{"a":"x<z","n":12345678901234567890,"b":1}`))
	if a != b || a == c || len(a) != 64 {
		t.Errorf("hashes %s %s %s", a, b, c)
	}
	if _, err := RecordHash([]byte(`{`)); err == nil {
		t.Error("malformed JSON hashed")
	}
}
