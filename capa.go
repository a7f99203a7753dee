package opsflow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CAPA (corrective and preventive action) after ISO 9001 §10.2, ISO 13485
// §8.5.2, 21 CFR 820.100 and Part 11, mapped onto 8D. This file holds the
// record, the inputs of every step and the pure rules (validation, risk
// scoring, which state allows which step). The workflow applies them.

// CAPAState is where a CAPA stands.
type CAPAState string

const (
	CAPAReported       CAPAState = "reported"            // source captured, waiting for triage (D0)
	CAPATriage         CAPAState = "triage"              // risk scored, waiting for the "CAPA required?" decision
	CAPAContainment    CAPAState = "containment"         // immediate actions, then verified (D3)
	CAPAInvestigation  CAPAState = "investigation"       // problem, RCA, escape point, extent (D1, D2, D4)
	CAPAActionPlan     CAPAState = "action_plan"         // corrective/preventive actions proposed and approved (D5)
	CAPAImplementation CAPAState = "implementation"      // actions done with evidence (D6, D7)
	CAPAVerification   CAPAState = "verification"        // implemented as planned, no adverse effect
	CAPAEffectiveness  CAPAState = "effectiveness_check" // window, then the independent review
	CAPAAwaitingSig    CAPAState = "awaiting_signature"  // judged effective: the closure signature is next
	CAPAClosed         CAPAState = "closed"              // signed closure (D8)
	CAPAClosedNoCAPA   CAPAState = "closed_no_capa"      // triage decided no CAPA is needed
	CAPACancelled      CAPAState = "cancelled"
)

// CAPAStates lists every state in lifecycle order.
var CAPAStates = []CAPAState{CAPAReported, CAPATriage, CAPAContainment, CAPAInvestigation, CAPAActionPlan,
	CAPAImplementation, CAPAVerification, CAPAEffectiveness, CAPAAwaitingSig, CAPAClosed, CAPAClosedNoCAPA, CAPACancelled}

// Final reports whether the CAPA takes no more changes.
func (s CAPAState) Final() bool {
	return s == CAPAClosed || s == CAPAClosedNoCAPA || s == CAPACancelled
}

// CAPA types.
const (
	CAPATypeCorrective = "corrective"
	CAPATypePreventive = "preventive"
	CAPATypeCorrection = "correction_only"
)

// CAPASourceTypes are the origins a CAPA may come from.
var CAPASourceTypes = []string{"complaint", "internal_audit", "external_audit", "ncr", "deviation", "supplier",
	"kpi_signal", "management_review", "kaizen", "other"}

// SixM are the fishbone (Ishikawa) categories, also used as root-cause
// category codes.
var SixM = []string{"man", "machine", "method", "material", "measurement", "environment"}

// Action kinds.
const (
	ActionCorrective = "corrective"
	ActionPreventive = "preventive"
)

// Effectiveness outcomes.
const (
	OutcomeEffective    = "effective"
	OutcomeIneffective  = "ineffective"
	OutcomeInconclusive = "inconclusive"
)

// Risk levels.
const (
	RiskLow      = "low"
	RiskMedium   = "medium"
	RiskHigh     = "high"
	RiskCritical = "critical"
)

// RiskModel names the scoring rules below; it is stored with every score so
// that a later change of thresholds never silently re-rates old records.
const RiskModel = "rpn-v1"

// Risk is a triage risk assessment: severity, occurrence and detection
// (1–5 each; detection 5 = hardest to detect) give the risk priority number
// RPN = S × O × D (1–125) and a level:
//
//	critical: RPN ≥ 80
//	high:     RPN ≥ 40, or severity 5 (a catastrophic effect is never rated
//	          below high, however rare or detectable)
//	medium:   RPN ≥ 15
//	low:      otherwise
type Risk struct {
	Severity   int    `json:"severity"`
	Occurrence int    `json:"occurrence"`
	Detection  int    `json:"detection"`
	Score      int    `json:"score"`
	Level      string `json:"level"`
	Model      string `json:"model"`
}

// ScoreRisk validates the three factors and returns the scored risk.
func ScoreRisk(severity, occurrence, detection int) (Risk, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"severity", severity}, {"occurrence", occurrence}, {"detection", detection}} {
		if f.v < 1 || f.v > 5 {
			return Risk{}, Invalid(f.name, "%s must be from 1 to 5, not %d", f.name, f.v)
		}
	}
	r := Risk{Severity: severity, Occurrence: occurrence, Detection: detection, Score: severity * occurrence * detection, Model: RiskModel}
	switch {
	case r.Score >= 80:
		r.Level = RiskCritical
	case r.Score >= 40 || severity == 5:
		r.Level = RiskHigh
	case r.Score >= 15:
		r.Level = RiskMedium
	default:
		r.Level = RiskLow
	}
	return r, nil
}

// CAPASource is where the problem came from.
type CAPASource struct {
	Type string   `json:"type"`
	Refs []string `json:"refs,omitempty"` // complaint, NCR, audit finding numbers…
}

// Problem is a 5W2H-lite problem description.
type Problem struct {
	What       string     `json:"what"`
	Where      string     `json:"where,omitempty"`
	When       string     `json:"when,omitempty"`
	Who        string     `json:"who,omitempty"`      // who found it
	How        string     `json:"how,omitempty"`      // how it was detected
	HowMany    int        `json:"how_many,omitempty"` // how many units/occurrences
	IsNot      string     `json:"is_not,omitempty"`   // where/what it is not: bounds the problem
	DetectedAt *time.Time `json:"detected_at,omitempty"`
}

// Scope is what the problem touches.
type Scope struct {
	Site        string   `json:"site,omitempty"`
	Line        string   `json:"line,omitempty"`
	Process     string   `json:"process,omitempty"`
	Product     string   `json:"product,omitempty"`
	Lots        []string `json:"lots,omitempty"`
	QtyAffected int      `json:"qty_affected,omitempty"`
}

// Due is a due date given either as a time or as a number of process days
// from when the step is taken (days scale with the configured day length,
// so tests run the same rules in seconds).
type Due struct {
	At   *time.Time `json:"due,omitempty"`
	Days int        `json:"due_days,omitempty"`
}

func (d Due) validate(field string) error {
	switch {
	case d.At == nil && d.Days == 0:
		return Invalid(field+".due", "a due date is required: give due (RFC 3339) or due_days")
	case d.At != nil && d.Days != 0:
		return Invalid(field+".due", "give either due or due_days, not both")
	case d.Days < 0 || d.Days > 3650:
		return Invalid(field+".due_days", "due_days must be from 1 to 3650")
	}
	return nil
}

// Resolve returns the due time for a step taken at now.
func (d Due) Resolve(now time.Time, day time.Duration) time.Time {
	if d.At != nil {
		return d.At.UTC()
	}
	return now.Add(time.Duration(d.Days) * day)
}

// ActionInput is an action to plan: a containment action or a corrective or
// preventive action.
type ActionInput struct {
	Kind        string `json:"kind,omitempty"` // corrective | preventive (plan actions only)
	Description string `json:"description"`
	Owner       string `json:"owner"` // user ID
	Due
	ChangeControlRef string `json:"change_control_ref,omitempty"`
	DocRef           string `json:"doc_ref,omitempty"`
	TrainingRef      string `json:"training_ref,omitempty"`
}

func (a ActionInput) validate(field string, plan bool) error {
	if plan && a.Kind != ActionCorrective && a.Kind != ActionPreventive {
		return Invalid(field+".kind", "kind must be corrective or preventive")
	}
	if !plan && a.Kind != "" {
		return Invalid(field+".kind", "containment actions have no kind")
	}
	if strings.TrimSpace(a.Description) == "" {
		return Invalid(field+".description", "a description is required")
	}
	if strings.TrimSpace(a.Owner) == "" {
		return Invalid(field+".owner", "an owner (user ID) is required")
	}
	return a.Due.validate(field)
}

// CAPARequest opens a CAPA.
type CAPARequest struct {
	Title       string        `json:"title"`
	Type        string        `json:"type"`
	Source      CAPASource    `json:"source"`
	Problem     Problem       `json:"problem"`
	Scope       Scope         `json:"scope,omitzero"`
	Owner       string        `json:"owner,omitempty"` // defaults to the reporter
	Containment []ActionInput `json:"containment,omitempty"`
}

// Validate checks a request to open a CAPA.
func (r CAPARequest) Validate() error {
	if t := strings.TrimSpace(r.Title); t == "" {
		return Invalid("title", "a title is required")
	} else if len(t) > 200 {
		return Invalid("title", "the title must be at most 200 characters")
	}
	if !slices.Contains([]string{CAPATypeCorrective, CAPATypePreventive, CAPATypeCorrection}, r.Type) {
		return Invalid("type", "type must be corrective, preventive or correction_only")
	}
	if !slices.Contains(CAPASourceTypes, r.Source.Type) {
		return Invalid("source.type", "source.type must be one of %s", strings.Join(CAPASourceTypes, ", "))
	}
	if err := r.Problem.validate("problem", false); err != nil {
		return err
	}
	if r.Scope.QtyAffected < 0 {
		return Invalid("scope.qty_affected", "qty_affected cannot be negative")
	}
	for i, a := range r.Containment {
		if err := a.validate(fmt.Sprintf("containment[%d]", i), false); err != nil {
			return err
		}
	}
	return nil
}

func (p Problem) validate(field string, full bool) error {
	if strings.TrimSpace(p.What) == "" {
		return Invalid(field+".what", "what happened is required")
	}
	if p.HowMany < 0 {
		return Invalid(field+".how_many", "how_many cannot be negative")
	}
	if full { // the investigation's problem description: what, where, when, how many
		if strings.TrimSpace(p.Where) == "" {
			return Invalid(field+".where", "where it happened is required")
		}
		if strings.TrimSpace(p.When) == "" {
			return Invalid(field+".when", "when it happened is required")
		}
		if p.HowMany < 1 {
			return Invalid(field+".how_many", "how_many must be at least 1")
		}
	}
	return nil
}

// TriageInput scores the risk (reported → triage).
type TriageInput struct {
	Actor      Actor  `json:"actor,omitzero"`
	Severity   int    `json:"severity"`
	Occurrence int    `json:"occurrence"`
	Detection  int    `json:"detection"`
	Comment    string `json:"comment,omitempty"`
}

// Validate checks the factors.
func (in TriageInput) Validate() error {
	_, err := ScoreRisk(in.Severity, in.Occurrence, in.Detection)
	return err
}

// DecideInput is the "CAPA required?" decision (triage → containment or
// closed_no_capa).
type DecideInput struct {
	Actor     Actor  `json:"actor,omitzero"`
	Required  *bool  `json:"capa_required"`
	Rationale string `json:"rationale"`
}

// Validate checks the decision.
func (in DecideInput) Validate() error {
	if in.Required == nil {
		return Invalid("capa_required", "capa_required (true or false) is required")
	}
	if strings.TrimSpace(in.Rationale) == "" {
		return Invalid("rationale", "a rationale is required")
	}
	return nil
}

// ContainmentInput adds containment actions.
type ContainmentInput struct {
	Actor   Actor         `json:"actor,omitzero"`
	Actions []ActionInput `json:"actions"`
}

// Validate checks the actions.
func (in ContainmentInput) Validate() error {
	if len(in.Actions) == 0 {
		return Invalid("actions", "at least one containment action is required")
	}
	for i, a := range in.Actions {
		if err := a.validate(fmt.Sprintf("actions[%d]", i), false); err != nil {
			return err
		}
	}
	return nil
}

// VerifyContainmentInput confirms the containment worked.
type VerifyContainmentInput struct {
	Actor   Actor  `json:"actor,omitzero"`
	Comment string `json:"comment"`
}

// Validate checks the input.
func (in VerifyContainmentInput) Validate() error {
	if strings.TrimSpace(in.Comment) == "" {
		return Invalid("comment", "say how the containment was verified")
	}
	return nil
}

// Why is one link of a 5-Whys chain.
type Why struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Evidence string `json:"evidence,omitempty"`
}

// FishboneCause is a candidate cause in one 6M category.
type FishboneCause struct {
	Category string `json:"category"`
	Cause    string `json:"cause"`
}

// RootCause is a root cause with its category code and whether it was
// verified (reproduced, or confirmed by data).
type RootCause struct {
	Statement string `json:"statement"`
	Category  string `json:"category"`
	Verified  bool   `json:"verified"`
	Evidence  string `json:"evidence,omitempty"`
}

// Investigation is the result of the investigation phase.
type Investigation struct {
	Problem      Problem         `json:"problem"`
	Method       string          `json:"method"` // 5_whys | fishbone | both | fault_tree | 8d | other
	Whys         []Why           `json:"whys,omitempty"`
	Fishbone     []FishboneCause `json:"fishbone,omitempty"`
	RootCauses   []RootCause     `json:"root_causes"`
	EscapePoint  string          `json:"escape_point"` // where the problem should have been caught and was not
	Extent       []string        `json:"extent,omitempty"`
	ExtentReview string          `json:"extent_review,omitempty"` // e.g. "checked lines 1–4: none"
	By           string          `json:"by,omitempty"`
	At           *time.Time      `json:"at,omitempty"`
}

// InvestigationInput records the investigation (investigation → action_plan).
type InvestigationInput struct {
	Actor Actor `json:"actor,omitzero"`
	Investigation
}

// Validate checks the investigation: a full problem description, an RCA
// (5 whys and/or fishbone), at least one verified root cause with a 6M
// category, the escape point, and the extent (a list or a review note).
func (in InvestigationInput) Validate() error {
	v := in.Investigation
	if err := v.Problem.validate("problem", true); err != nil {
		return err
	}
	if !slices.Contains([]string{"5_whys", "fishbone", "both", "fault_tree", "8d", "other"}, v.Method) {
		return Invalid("method", "method must be 5_whys, fishbone, both, fault_tree, 8d or other")
	}
	if len(v.Whys) == 0 && len(v.Fishbone) == 0 {
		return Invalid("whys", "give a 5-Whys chain (whys) and/or fishbone causes")
	}
	if (v.Method == "5_whys" || v.Method == "both") && len(v.Whys) == 0 {
		return Invalid("whys", "method %s needs whys", v.Method)
	}
	if (v.Method == "fishbone" || v.Method == "both") && len(v.Fishbone) == 0 {
		return Invalid("fishbone", "method %s needs fishbone causes", v.Method)
	}
	for i, w := range v.Whys {
		if strings.TrimSpace(w.Question) == "" || strings.TrimSpace(w.Answer) == "" {
			return Invalid(fmt.Sprintf("whys[%d]", i), "each why needs a question and an answer")
		}
	}
	for i, f := range v.Fishbone {
		if !slices.Contains(SixM, f.Category) {
			return Invalid(fmt.Sprintf("fishbone[%d].category", i), "category must be one of %s", strings.Join(SixM, ", "))
		}
		if strings.TrimSpace(f.Cause) == "" {
			return Invalid(fmt.Sprintf("fishbone[%d].cause", i), "a cause is required")
		}
	}
	verified := false
	for i, rc := range v.RootCauses {
		if strings.TrimSpace(rc.Statement) == "" {
			return Invalid(fmt.Sprintf("root_causes[%d].statement", i), "a statement is required")
		}
		if !slices.Contains(SixM, rc.Category) {
			return Invalid(fmt.Sprintf("root_causes[%d].category", i), "category must be one of %s", strings.Join(SixM, ", "))
		}
		if rc.Verified && strings.TrimSpace(rc.Evidence) == "" {
			return Invalid(fmt.Sprintf("root_causes[%d].evidence", i), "a verified root cause needs evidence")
		}
		verified = verified || rc.Verified
	}
	if !verified {
		return Invalid("root_causes", "at least one verified root cause is required")
	}
	if strings.TrimSpace(v.EscapePoint) == "" {
		return Invalid("escape_point", "the escape point is required")
	}
	if len(v.Extent) == 0 && strings.TrimSpace(v.ExtentReview) == "" {
		return Invalid("extent", "list similar nonconformities elsewhere, or say in extent_review where you looked")
	}
	return nil
}

// EffectivenessPlan says how and when effectiveness is judged.
type EffectivenessPlan struct {
	Metric     string `json:"metric"`
	Baseline   string `json:"baseline,omitempty"`
	Criterion  string `json:"criterion"`
	WindowDays int    `json:"window_days"`
	Reviewer   string `json:"reviewer,omitempty"` // a user ID; else any approver who is not the owner
	// KPI cites a KPI whose chart judges the effect: the review then says
	// whether the chart shows a sustained shift the good way over the
	// window (a CAPA opened by a KPI signal cites its KPI by default).
	KPI string `json:"kpi,omitempty"`
}

// PlanInput proposes the action plan (action_plan, waiting for approval).
type PlanInput struct {
	Actor         Actor             `json:"actor,omitzero"`
	Actions       []ActionInput     `json:"actions"`
	Effectiveness EffectivenessPlan `json:"effectiveness"`
}

// Validate checks the plan: at least one corrective action (for a
// corrective CAPA), each action complete, an effectiveness plan.
func (in PlanInput) Validate(capaType string) error {
	if len(in.Actions) == 0 {
		return Invalid("actions", "at least one action is required")
	}
	corrective := false
	for i, a := range in.Actions {
		if err := a.validate(fmt.Sprintf("actions[%d]", i), true); err != nil {
			return err
		}
		corrective = corrective || a.Kind == ActionCorrective
	}
	if capaType == CAPATypeCorrective && !corrective {
		return Invalid("actions", "a corrective CAPA needs at least one corrective action")
	}
	e := in.Effectiveness
	if strings.TrimSpace(e.Metric) == "" {
		return Invalid("effectiveness.metric", "say what is measured to judge effectiveness")
	}
	if strings.TrimSpace(e.Criterion) == "" {
		return Invalid("effectiveness.criterion", "an acceptance criterion is required")
	}
	if e.WindowDays < 1 || e.WindowDays > 730 {
		return Invalid("effectiveness.window_days", "window_days must be from 1 to 730")
	}
	return nil
}

// ApprovePlanInput approves or rejects the proposed plan.
type ApprovePlanInput struct {
	Actor    Actor  `json:"actor,omitzero"`
	Approved *bool  `json:"approved"`
	Comment  string `json:"comment,omitempty"`
}

// Validate checks the input; a rejection needs a reason.
func (in ApprovePlanInput) Validate() error {
	if in.Approved == nil {
		return Invalid("approved", "approved (true or false) is required")
	}
	if !*in.Approved && strings.TrimSpace(in.Comment) == "" {
		return Invalid("comment", "a rejection needs a comment saying why")
	}
	return nil
}

// Evidence backs a completed action.
type Evidence struct {
	Text string   `json:"text"`
	Refs []string `json:"refs,omitempty"` // document IDs, change-control numbers, links
}

// CompleteActionInput completes a planned action with evidence.
type CompleteActionInput struct {
	Actor    Actor    `json:"actor,omitzero"`
	ActionID string   `json:"action_id"`
	Evidence Evidence `json:"evidence"`
}

// Validate checks the input.
func (in CompleteActionInput) Validate() error {
	if in.ActionID == "" {
		return Invalid("action_id", "action_id is required")
	}
	if strings.TrimSpace(in.Evidence.Text) == "" {
		return Invalid("evidence.text", "evidence is required to complete an action")
	}
	return nil
}

// VerifyImplementationInput records the verification of the implementation.
type VerifyImplementationInput struct {
	Actor                   Actor  `json:"actor,omitzero"`
	ImplementedAsPlanned    *bool  `json:"implemented_as_planned"`
	NoAdverseEffect         *bool  `json:"no_adverse_effect"`
	AdverseEffectAssessment string `json:"adverse_effect_assessment"`
	Comment                 string `json:"comment,omitempty"`
}

// Validate checks the input; a failed verification needs a comment (it
// sends the CAPA back to the action plan).
func (in VerifyImplementationInput) Validate() error {
	if in.ImplementedAsPlanned == nil {
		return Invalid("implemented_as_planned", "implemented_as_planned (true or false) is required")
	}
	if in.NoAdverseEffect == nil {
		return Invalid("no_adverse_effect", "no_adverse_effect (true or false) is required")
	}
	if strings.TrimSpace(in.AdverseEffectAssessment) == "" {
		return Invalid("adverse_effect_assessment", "say how adverse effects were assessed")
	}
	if (!*in.ImplementedAsPlanned || !*in.NoAdverseEffect) && strings.TrimSpace(in.Comment) == "" {
		return Invalid("comment", "a failed verification needs a comment saying why")
	}
	return nil
}

// EffectivenessInput records the effectiveness review.
type EffectivenessInput struct {
	Actor    Actor    `json:"actor,omitzero"`
	Outcome  string   `json:"outcome"`
	Data     string   `json:"data,omitempty"` // the measured values
	Evidence Evidence `json:"evidence"`
	Reason   string   `json:"reason,omitempty"` // why, for ineffective and inconclusive
	// Chart is set by the server, never taken from the body: when the
	// plan cites a KPI, what its chart shows over the window.
	Chart *ShiftVerdict `json:"chart,omitempty"`
}

// Validate checks the input.
func (in EffectivenessInput) Validate() error {
	if !slices.Contains([]string{OutcomeEffective, OutcomeIneffective, OutcomeInconclusive}, in.Outcome) {
		return Invalid("outcome", "outcome must be effective, ineffective or inconclusive")
	}
	if strings.TrimSpace(in.Evidence.Text) == "" {
		return Invalid("evidence.text", "evidence is required")
	}
	if in.Outcome != OutcomeEffective && strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "an %s outcome needs a reason", in.Outcome)
	}
	return nil
}

// SignInput is a closure signature. The server has already checked the
// re-entered credential; it never reaches the workflow.
type SignInput struct {
	Actor          Actor  `json:"actor,omitzero"`
	PrintedName    string `json:"printed_name"`
	Meaning        string `json:"meaning"`
	LessonsLearned string `json:"lessons_learned,omitempty"`
}

// Validate checks the input: the printed name must be the signer's own.
func (in SignInput) Validate() error {
	if strings.TrimSpace(in.PrintedName) == "" {
		return Invalid("printed_name", "the signer's printed name is required")
	}
	if !strings.EqualFold(strings.TrimSpace(in.PrintedName), strings.TrimSpace(in.Actor.Name)) {
		return Invalid("printed_name", "the printed name must be the signer's own name (%s)", in.Actor.Name)
	}
	if strings.TrimSpace(in.Meaning) == "" {
		return Invalid("meaning", "the meaning of the signature is required (e.g. \"approved for closure\")")
	}
	return nil
}

// ExtensionInput asks to move a task's due date.
type ExtensionInput struct {
	Actor  Actor     `json:"actor,omitzero"`
	TaskID string    `json:"task_id"`
	NewDue time.Time `json:"new_due"`
	Reason string    `json:"reason"`
}

// Validate checks the input; the workflow checks new_due against the
// task's current due date.
func (in ExtensionInput) Validate() error {
	if in.TaskID == "" {
		return Invalid("task_id", "task_id is required")
	}
	if in.NewDue.IsZero() {
		return Invalid("new_due", "new_due is required")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a reason is required")
	}
	return nil
}

// DecideExtensionInput approves or rejects the pending extension.
type DecideExtensionInput struct {
	Actor    Actor  `json:"actor,omitzero"`
	Approved *bool  `json:"approved"`
	Comment  string `json:"comment,omitempty"`
}

// Validate checks the input.
func (in DecideExtensionInput) Validate() error {
	if in.Approved == nil {
		return Invalid("approved", "approved (true or false) is required")
	}
	if !*in.Approved && strings.TrimSpace(in.Comment) == "" {
		return Invalid("comment", "a rejection needs a comment saying why")
	}
	return nil
}

// CancelInput cancels an open CAPA.
type CancelInput struct {
	Actor  Actor  `json:"actor,omitzero"`
	Reason string `json:"reason"`
}

// Validate checks the input.
func (in CancelInput) Validate() error {
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a reason is required to cancel a CAPA")
	}
	return nil
}

// CAPADecision is a triage decision: is a CAPA required, and why.
type CAPADecision struct {
	Required  bool      `json:"capa_required"`
	Rationale string    `json:"rationale"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// ContainmentAction is an immediate action; its state lives on its task.
type ContainmentAction struct {
	ID          string     `json:"id"` // the task ID
	Description string     `json:"description"`
	Owner       string     `json:"owner"`
	DueAt       time.Time  `json:"due_at"`
	Status      TaskState  `json:"status"`
	DoneBy      string     `json:"done_by,omitempty"`
	DoneAt      *time.Time `json:"done_at,omitempty"`
	VerifiedBy  string     `json:"verified_by,omitempty"`
	VerifiedAt  *time.Time `json:"verified_at,omitempty"`
}

// Action is a corrective or preventive action; its state lives on its task.
type Action struct {
	ID               string     `json:"id"` // the task ID
	Kind             string     `json:"kind"`
	Description      string     `json:"description"`
	Owner            string     `json:"owner"`
	DueAt            time.Time  `json:"due_at"`
	Status           TaskState  `json:"status"`
	Evidence         *Evidence  `json:"evidence,omitempty"`
	ImplementedBy    string     `json:"implemented_by,omitempty"`
	ImplementedAt    *time.Time `json:"implemented_at,omitempty"`
	ChangeControlRef string     `json:"change_control_ref,omitempty"`
	DocRef           string     `json:"doc_ref,omitempty"`
	TrainingRef      string     `json:"training_ref,omitempty"`
}

// Approval is an approval or rejection by a person.
type Approval struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Comment  string    `json:"comment,omitempty"`
}

// Verification is the verification of the implementation.
type Verification struct {
	ImplementedAsPlanned    bool      `json:"implemented_as_planned"`
	NoAdverseEffect         bool      `json:"no_adverse_effect"`
	AdverseEffectAssessment string    `json:"adverse_effect_assessment"`
	Comment                 string    `json:"comment,omitempty"`
	By                      string    `json:"by"`
	At                      time.Time `json:"at"`
}

// EffectivenessResult is one effectiveness review.
type EffectivenessResult struct {
	Cycle    int      `json:"cycle"`
	Outcome  string   `json:"outcome"`
	Data     string   `json:"data,omitempty"`
	Evidence Evidence `json:"evidence"`
	Reason   string   `json:"reason,omitempty"`
	// Chart is what the cited KPI's chart showed over the window.
	Chart *ShiftVerdict `json:"chart,omitempty"`
	By    string        `json:"by"`
	At    time.Time     `json:"at"`
}

// Effectiveness is the effectiveness check: the plan, when the window ends,
// whether it was extended, and every result.
type Effectiveness struct {
	Plan        EffectivenessPlan     `json:"plan"`
	WindowStart *time.Time            `json:"window_start,omitempty"`
	WindowEnd   *time.Time            `json:"window_end,omitempty"`
	Extended    bool                  `json:"extended"` // inconclusive extends the window once
	Results     []EffectivenessResult `json:"results,omitempty"`
}

// CAPACycle archives an investigation and its actions when an ineffective
// result reopens the investigation, so nothing of an earlier cycle is lost.
type CAPACycle struct {
	Cycle         int                 `json:"cycle"`
	Investigation *Investigation      `json:"investigation,omitempty"`
	Actions       []Action            `json:"actions,omitempty"`
	PlanApproval  *Approval           `json:"plan_approval,omitempty"`
	Verification  *Verification       `json:"verification,omitempty"`
	Result        EffectivenessResult `json:"result"`
}

// Extension is a due-date extension request and its decision.
type Extension struct {
	ID          string     `json:"id"`
	TaskID      string     `json:"task_id"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	Reason      string     `json:"reason"`
	OldDue      *time.Time `json:"old_due,omitempty"`
	NewDue      time.Time  `json:"new_due"`
	Status      string     `json:"status"` // pending | approved | rejected
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	Comment     string     `json:"comment,omitempty"`
}

// Signature is a Part 11 electronic signature: who (ID and printed name),
// when (UTC), what it means, and the SHA-256 of the canonical JSON of the
// record version signed (see RecordHash).
type Signature struct {
	SignerID    string    `json:"signer_id"`
	PrintedName string    `json:"printed_name"`
	SignedAt    time.Time `json:"signed_at"`
	Meaning     string    `json:"meaning"`
	RecordHash  string    `json:"record_sha256"`
	Method      string    `json:"method"` // how the signer re-authenticated
}

// SignedVersion keeps the exact record a signature covers, so an auditor
// can recompute its hash offline.
type SignedVersion struct {
	RecordHash string          `json:"record_sha256"`
	Record     json.RawMessage `json:"record"`
}

// Cancellation records why a CAPA was cancelled.
type Cancellation struct {
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason"`
	From   CAPAState `json:"from"`
}

// CAPA is the full record, as projected to the read model and exported.
type CAPA struct {
	ID                  string              `json:"id"`
	Title               string              `json:"title"`
	Type                string              `json:"type"`
	State               CAPAState           `json:"state"`
	Source              CAPASource          `json:"source"`
	Problem             Problem             `json:"problem"`
	Scope               Scope               `json:"scope,omitzero"`
	ReportedBy          string              `json:"reported_by"`
	Owner               string              `json:"owner"`
	Risk                *Risk               `json:"risk,omitempty"`
	Decision            *CAPADecision       `json:"decision,omitempty"`
	Containment         []ContainmentAction `json:"containment"`
	ContainmentVerified *Approval           `json:"containment_verified,omitempty"`
	Cycle               int                 `json:"cycle"` // investigation cycle, 1-based; an ineffective result adds one
	Investigation       *Investigation      `json:"investigation,omitempty"`
	Actions             []Action            `json:"actions"`
	PlanProposedBy      string              `json:"plan_proposed_by,omitempty"`
	PlanApproval        *Approval           `json:"plan_approval,omitempty"`
	PlanRejections      []Approval          `json:"plan_rejections,omitempty"`
	Verification        *Verification       `json:"verification,omitempty"`
	Effectiveness       *Effectiveness      `json:"effectiveness,omitempty"`
	Cycles              []CAPACycle         `json:"cycles,omitempty"`
	Extensions          []Extension         `json:"extensions"`
	Signatures          []Signature         `json:"signatures"`
	SignedVersions      []SignedVersion     `json:"signed_versions,omitempty"`
	Cancellation        *Cancellation       `json:"cancellation,omitempty"`
	LessonsLearned      string              `json:"lessons_learned,omitempty"`
	DueAt               *time.Time          `json:"due_at,omitempty"` // the earliest due date of the open tasks
	EscalationLevel     int                 `json:"escalation_level"` // the highest escalation level of the open tasks
	Overdue             bool                `json:"overdue"`          // derived at the last change
	OpenedAt            time.Time           `json:"opened_at"`
	ClosedAt            *time.Time          `json:"closed_at,omitempty"`
	DaysOpen            *int                `json:"days_open,omitempty"` // in process days, set at closure
	// KPISignal is the KPI signal that opened the CAPA (source type
	// kpi_signal); KPISignals the later signals of the same KPI and rule
	// added to it while it was open.
	KPISignal  *KPISignalLink  `json:"kpi_signal,omitempty"`
	KPISignals []KPISignalNote `json:"kpi_signals,omitempty"`
	Tasks      []Task          `json:"tasks"`
	Outside
}

// CAPAStepStates names a step and the states that allow it, for the workflow's
// state gates and for documentation.
var CAPAStepStates = map[string][]CAPAState{
	"triage":                {CAPAReported},
	"decide":                {CAPATriage},
	"add-containment":       {CAPAReported, CAPATriage, CAPAContainment},
	"verify-containment":    {CAPAContainment},
	"record-investigation":  {CAPAInvestigation},
	"propose-plan":          {CAPAActionPlan},
	"approve-plan":          {CAPAActionPlan},
	"complete-action":       {CAPAImplementation},
	"verify-implementation": {CAPAVerification},
	"record-effectiveness":  {CAPAEffectiveness},
	"sign-closure":          {CAPAAwaitingSig, CAPAEffectiveness}, // effectiveness_check: CAPAs judged effective before awaiting_signature existed
}

// CheckStep returns a conflict unless step is allowed in state s.
func CheckStep(step string, s CAPAState) error {
	if s.Final() {
		return Conflict(string(s), "the CAPA is %s and takes no more changes", s)
	}
	states, ok := CAPAStepStates[step]
	if !ok { // steps allowed in every open state: cancel, extensions
		return nil
	}
	if !slices.Contains(states, s) {
		names := make([]string, len(states))
		for i, st := range states {
			names[i] = string(st)
		}
		return Conflict(string(s), "%s is not possible while the CAPA is %s (it needs %s)", step, s, strings.Join(names, " or "))
	}
	return nil
}

// CanonicalJSON returns the RFC 8785 (JCS) form of a JSON document (see
// JCS). Signatures and seals hash this form, so the hash survives a round
// trip through PostgreSQL's jsonb (which reorders keys) and through any
// pretty-printer, and an auditor can recompute it in any language.
func CanonicalJSON(b []byte) ([]byte, error) { return JCS(b) }

// RecordHash returns the hex SHA-256 of the canonical form of a JSON record.
func RecordHash(record []byte) (string, error) {
	c, err := CanonicalJSON(record)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}
