package opsflow

import "time"

// The steps of each process, as the API offers them. Names are the
// workflows' update names: part of every running workflow's history, never
// renamed.

// exampleDue is a due date for examples, safely in the future.
var exampleDue = time.Date(2027, 1, 15, 17, 0, 0, 0, time.UTC)

// CAPAStep holds the CAPA's steps, one field each.
var CAPAStep = struct {
	Triage               StepDef[TriageInput, TriageInput]
	Decide               StepDef[DecideInput, DecideInput]
	AddContainment       StepDef[ContainmentInput, ContainmentInput]
	VerifyContainment    StepDef[VerifyContainmentInput, VerifyContainmentInput]
	RecordInvestigation  StepDef[InvestigationInput, InvestigationInput]
	ProposePlan          StepDef[PlanInput, PlanInput]
	ApprovePlan          StepDef[ApprovePlanInput, ApprovePlanInput]
	CompleteAction       StepDef[CompleteActionInput, CompleteActionInput]
	VerifyImplementation StepDef[VerifyImplementationInput, VerifyImplementationInput]
	RecordEffectiveness  StepDef[EffectivenessInput, EffectivenessInput]
	SignClosure          StepDef[SignBody, SignInput]
	RequestExtension     StepDef[ExtensionInput, ExtensionInput]
	DecideExtension      StepDef[DecideExtensionInput, DecideExtensionInput]
	Cancel               StepDef[CancelInput, CancelInput]
}{
	Triage: asInput(KindCAPA, "triage", "", "Score the risk (reported → triage)",
		"The owner or an approver scores severity, occurrence and detection (1–5 each); the risk level follows from their product.",
		TriageInput{Severity: 4, Occurrence: 3, Detection: 4, Comment: "three field returns in a week"}),
	Decide: asInput(KindCAPA, "decide", "", "Decide whether a CAPA is required (triage → containment, or closed_no_capa)",
		"An approver other than the owner decides, with a rationale (ISO 9001 §10.2: the action must be proportionate), and signs the decision (signature: printed name, meaning, signing password).",
		DecideInput{Required: Ptr(true), Rationale: "customer impact, recurring", Signature: exampleSig("CAPA required")}),
	AddContainment: asInput(KindCAPA, "add-containment", "", "Add containment actions",
		"Each action has an owner and a due date (due, RFC 3339, or due_days from now).",
		ContainmentInput{Actions: []ActionInput{{Description: "sort stock at the warehouse", Owner: "dave", Due: Due{Days: 2}}}}),
	VerifyContainment: asInput(KindCAPA, "verify-containment", "", "Verify the containment (containment → investigation)",
		"Once every containment action is done, the owner says how the containment was verified.",
		VerifyContainmentInput{Comment: "lot 42 quarantined, 0 cracked units in stock"}),
	RecordInvestigation: asInput(KindCAPA, "record-investigation", "", "Record the investigation (investigation → action_plan)",
		"The problem description (5W2H), the RCA method with its 5-Whys and/or 6M fishbone causes, at least one verified root cause, the escape point, and the extent (similar cases elsewhere, or a note of the review).",
		InvestigationInput{Investigation: Investigation{
			Problem: Problem{What: "cracks", Where: "line 2", When: "week 47", HowMany: 3}, Method: "both",
			Whys:        []Why{{Question: "Why did it crack?", Answer: "over-torqued", Evidence: "torque log"}},
			Fishbone:    []FishboneCause{{Category: "machine", Cause: "torque tool drift"}},
			RootCauses:  []RootCause{{Statement: "torque tool out of calibration", Category: "machine", Verified: true, Evidence: "CAL-2231"}},
			EscapePoint: "final inspection does not check torque", Extent: []string{"line 3 uses the same tool"},
		}}),
	ProposePlan: asInput(KindCAPA, "propose-plan", "", "Propose corrective and preventive actions",
		"At least one corrective action (for a corrective CAPA), each with an owner and a due date, and the effectiveness plan: what is measured, the criterion, and the window in days.",
		PlanInput{Actions: []ActionInput{
			{Kind: ActionCorrective, Description: "calibrate torque tools", Owner: "dave", Due: Due{Days: 5}},
			{Kind: ActionPreventive, Description: "add tools to the PM plan", Owner: "dave", Due: Due{Days: 10}},
		}, Effectiveness: EffectivenessPlan{Metric: "crack rate", Baseline: "3 per 1000", Criterion: "0 in 3 lots", WindowDays: 30}}),
	ApprovePlan: asInput(KindCAPA, "approve-plan", "", "Approve or reject the plan",
		"An approver other than the owner, signed; a rejection sends the plan back to its owner with the comment.",
		ApprovePlanInput{Approved: Ptr(true), Comment: "ok", Signature: exampleSig("plan approved")}),
	CompleteAction: asInput(KindCAPA, "complete-action", "", "Complete an action with evidence",
		"The action's owner records what was done; the last action moves the CAPA to verification.",
		CompleteActionInput{ActionID: "action-7", Evidence: Evidence{Text: "all 14 tools calibrated", Refs: []string{"CAL-2240"}}}),
	VerifyImplementation: asInput(KindCAPA, "verify-implementation", "", "Verify the implementation (verification → effectiveness_check)",
		"Someone who implemented none of the actions confirms they were implemented as planned and had no adverse effect; either answer no sends the plan back.",
		VerifyImplementationInput{ImplementedAsPlanned: Ptr(true), NoAdverseEffect: Ptr(true), AdverseEffectAssessment: "cycle time unchanged, no new defects in 2 lots"}),
	RecordEffectiveness: asInput(KindCAPA, "record-effectiveness", "", "Record the effectiveness review",
		"After the window, an independent reviewer (not the owner) records, signed, effective (→ awaiting_signature), ineffective (→ investigation, a new cycle) or inconclusive (the window is extended once).",
		EffectivenessInput{Outcome: OutcomeEffective, Data: "0 cracks in 4 lots", Evidence: Evidence{Text: "SPC chart", Refs: []string{"SPC-L2-2026-12"}},
			Signature: exampleSig("judged effective")}),
	SignClosure: fromBody(KindCAPA, "sign-closure", "", "Sign the closure (Part 11 e-signature)",
		"An approver other than the owner signs: printed name, meaning, and their signing password (PUT /v1/me/signing-password). The signature is bound to the hash of the record version signed.",
		SignBody{ESign: ESign{PrintedName: "Bob Chen", Meaning: "approved for closure", Password: "…"}},
		func(c Call, b SignBody) (SignInput, error) {
			return SignInput{Actor: c.Actor, PrintedName: b.PrintedName, Meaning: b.Meaning, LessonsLearned: b.LessonsLearned, Method: b.Method}, nil
		}),
	RequestExtension: asInput(KindCAPA, "request-extension", "", "Ask to move a task's due date",
		"The task's assignee or the owner asks; someone else decides (decide-extension).",
		ExtensionInput{TaskID: "investigation-5", NewDue: exampleDue, Reason: "lab results due 10 Jan"}),
	DecideExtension: asInput(KindCAPA, "decide-extension", "", "Approve or reject the pending extension",
		"An approver other than the requester.",
		DecideExtensionInput{Approved: Ptr(true), Comment: "agreed"}),
	Cancel: asInput(KindCAPA, "cancel", "", "Cancel the CAPA",
		"The owner or an approver, with a reason; the record is sealed.",
		CancelInput{Reason: "duplicate of capa-0a1b"}),
}

// SignBody is the body of a closure signature: the signature's fields
// (printed name, meaning, the signing password entered at signing, Part
// 11 §11.200 — checked by the API, never sent on, stored or audited) and
// the lessons learned.
type SignBody struct {
	ESign
	LessonsLearned string `json:"lessons_learned,omitempty"`
}

// Sig is the closure's signature.
func (b *SignBody) Sig() *ESign { return &b.ESign }

// exampleSig is a signature as the API reference shows it.
func exampleSig(meaning string) *ESign {
	return &ESign{PrintedName: "Bob Chen", Meaning: meaning, Password: "…"}
}

// CAPASteps lists the CAPA's own steps (task steps come with every kind).
func CAPASteps() []Step {
	c := CAPAStep
	return []Step{c.Triage.Step(), c.Decide.Step(), c.AddContainment.Step(), c.VerifyContainment.Step(),
		c.RecordInvestigation.Step(), c.ProposePlan.Step(), c.ApprovePlan.Step(), c.CompleteAction.Step(),
		c.VerifyImplementation.Step(), c.RecordEffectiveness.Step(), c.SignClosure.Step(),
		c.RequestExtension.Step(), c.DecideExtension.Step(), c.Cancel.Step()}
}

// KaizenStep holds a Kaizen initiative's steps.
var KaizenStep = struct {
	Triage       StepDef[KaizenTriageInput, KaizenTriageInput]
	SubmitPlan   StepDef[A3, KaizenPlanInput]
	ApprovePlan  StepDef[KaizenReviewInput, KaizenReviewInput]
	Observe      StepDef[ObservationInput, ObservationInput]
	Act          StepDef[ActDecision, KaizenActInput]
	RecordImpact StepDef[ImpactBody, KaizenImpactInput]
	Cancel       StepDef[KaizenCancelInput, KaizenCancelInput]
	// DecideRegression is the sponsor's decision after a regression.
	DecideRegression StepDef[KaizenRegressionInput, KaizenRegressionInput]
}{
	Triage: asInput(KindKaizen, "triage", "", "Sponsor's triage: accept, defer or reject",
		"A deferral names the date to reconsider (until); every decision has a reason.",
		KaizenTriageInput{Decision: "defer", Reason: "after the line move", Until: Ptr(exampleDue)}),
	SubmitPlan: fromBody(KindKaizen, "submit-plan", "", "Submit (or revise) the A3 plan",
		"Current condition, root causes, countermeasures with owners and due dates, the experiment, and the check window; a baseline or target given here overrides the initiative's (a baseline window is measured from the KPI).",
		A3{CurrentCondition: "flash on cavity 1 and 2", RootCauses: []string{"vents clogged after 4 h"},
			Countermeasures: []Countermeasure{{ID: "vents", Title: "Clean vents every shift", Owner: "dave", Due: exampleDue}},
			Experiment:      Experiment{Hypothesis: "clean vents halve flash"}, CheckWindowDays: 14},
		func(c Call, b A3) (KaizenPlanInput, error) { return KaizenPlanInput{Actor: c.Actor, Plan: b}, nil }),
	ApprovePlan: asInput(KindKaizen, "approve-plan", "", "Sponsor approves or returns the plan",
		"An approval is signed (signature: printed name, meaning, signing password); a returned plan needs a reason and goes back to its owner as a task.",
		KaizenReviewInput{Decision: "approve", Signature: exampleSig("plan approved")}),
	Observe: asInput(KindKaizen, "record-observations", "", "Owner's observations during check",
		"", ObservationInput{Text: "flash gone on cavity 1, not on cavity 2"}),
	Act: fromBody(KindKaizen, "act", "", "Standardise (then sustain) or adjust (a new cycle)",
		"Standardise names the SOP and its version, training, where else to roll it out and the regression tolerance, and is signed; adjust says what the next cycle changes.",
		ActDecision{Decision: ActStandardise, Standard: &Standard{SOPRef: "SOP-MLD-12", SOPVersion: "4", Training: []string{"moulding shift leads"},
			RollOut: []string{"line 5", "line 7"}, TolerancePct: 20}, Signature: exampleSig("standard approved")},
		func(c Call, b ActDecision) (KaizenActInput, error) {
			return KaizenActInput{Actor: c.Actor, Decision: b}, nil
		}),
	RecordImpact: fromBody(KindKaizen, "record-impact", "", "Record or revise an impact entry",
		"Target, forecast and actual in one unit (a currency, hours, defects…), one-time or recurring; actuals lock when the initiative closes.",
		ImpactBody{ID: "scrap-cost", Category: "hard_savings", Unit: "EUR", Forecast: Ptr(40000.0), Actual: Ptr(36500.0), Recurrence: "recurring"},
		func(c Call, b ImpactBody) (KaizenImpactInput, error) {
			return KaizenImpactInput{Actor: c.Actor, Entry: ImpactEntry{ID: b.ID, Category: b.Category, Description: b.Description, Unit: b.Unit,
				Target: b.Target, Forecast: b.Forecast, Actual: b.Actual, Recurrence: b.Recurrence}}, nil
		}),
	Cancel: asInput(KindKaizen, "cancel", "", "Cancel from any open phase",
		"", KaizenCancelInput{Reason: "line 4 is being decommissioned"}),
	DecideRegression: asInput(KindKaizen, "decide-regression", "", "Sponsor decides after a regression: a new cycle, or accept",
		"When a sustain follow-up shows the KPI slipping back and the owner has investigated (the regression task is done), the sponsor runs a new PDCA cycle or accepts the result; the initiative does not close before that.",
		KaizenRegressionInput{Decision: "new_cycle", Reason: "the gain halved at day 60; the vents clog again"}),
}

// ImpactBody is an impact entry as a client sends it: who recorded it,
// when, and the lock are the system's to set.
type ImpactBody struct {
	ID          string   `json:"id"`
	Category    string   `json:"category"`
	Description string   `json:"description,omitempty"`
	Unit        string   `json:"unit"`
	Target      *float64 `json:"target,omitempty"`
	Forecast    *float64 `json:"forecast,omitempty"`
	Actual      *float64 `json:"actual,omitempty"`
	Recurrence  string   `json:"recurrence"`
}

// KaizenSteps lists a Kaizen initiative's own steps.
func KaizenSteps() []Step {
	k := KaizenStep
	return []Step{k.Triage.Step(), k.SubmitPlan.Step(), k.ApprovePlan.Step(), k.Observe.Step(),
		k.Act.Step(), k.RecordImpact.Step(), k.Cancel.Step(), k.DecideRegression.Step()}
}

// OnboardingStep holds an onboarding's steps.
var OnboardingStep = struct {
	CheckIn   StepDef[CheckInInput, CheckInInput]
	MoveStart StepDef[MoveStartBody, MoveStartInput]
	Cancel    StepDef[CancelOnboardingInput, CancelOnboardingInput]
	Retry     StepDef[NoBody, RetryProvisioningInput]
}{
	CheckIn: asInput(KindOnboarding, "check-in", "check-ins", "The manager records the day-30/60/90 check-in",
		"Notes, the hire's sentiment (1–5) and risks; a check-in opens on its day.",
		CheckInInput{Day: 30, Notes: "Settling in well", Sentiment: 4, Risks: []string{"long commute"}}),
	// MoveStart's input needs the hire's time zone, which the API reads
	// from the record: its Input only carries the body across.
	MoveStart: fromBody(KindOnboarding, "move-start-date", "", "Move the start date; unfinished tasks are re-planned",
		"A date (day one starts at 09:00 in the hire's time zone) or an exact start_at, and a reason.",
		MoveStartBody{StartDate: "2026-12-08", Reason: "notice period extended"},
		func(c Call, b MoveStartBody) (MoveStartInput, error) {
			in := MoveStartInput{Actor: c.Actor, StartDate: b.StartDate, Reason: b.Reason}
			if b.StartAt != nil {
				in.StartAt = b.StartAt.UTC()
			}
			return in, nil
		}),
	Cancel: asInput(KindOnboarding, "cancel-onboarding", "cancel", "Cancel (before the start) or terminate early (after it)",
		"", CancelOnboardingInput{Reason: "offer withdrawn"}),
	Retry: func() StepDef[NoBody, RetryProvisioningInput] {
		d := fromBody(KindOnboarding, "retry-provisioning", "tasks/{task_id}/retry", "Run a failed provisioning webhook again",
			"The task must be blocked by a failed webhook; the next round starts at once.", NoBody{},
			func(c Call, _ NoBody) (RetryProvisioningInput, error) {
				//lint:ignore S1016 Call may grow fields the input does not have
				return RetryProvisioningInput{Actor: c.Actor, TaskID: c.TaskID}, nil
			})
		d.NoBody = true
		return d
	}(),
}

// MoveStartBody is the body of move-start-date.
type MoveStartBody struct {
	StartDate string     `json:"start_date,omitempty"`
	StartAt   *time.Time `json:"start_at,omitempty"`
	Reason    string     `json:"reason"`
}

// OnboardingSteps lists an onboarding's own steps.
func OnboardingSteps() []Step {
	o := OnboardingStep
	return []Step{o.CheckIn.Step(), o.MoveStart.Step(), o.Cancel.Step(), o.Retry.Step()}
}
