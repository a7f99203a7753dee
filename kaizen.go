package opsflow

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// KaizenPhase is the state of a Kaizen (PDCA) initiative.
type KaizenPhase string

const (
	KaizenSubmitted KaizenPhase = "submitted" // only while the workflow opens it
	KaizenTriage    KaizenPhase = "triage"    // the sponsor accepts, defers or rejects
	KaizenPlan      KaizenPhase = "plan"      // the owner writes the A3; the sponsor approves it
	KaizenDo        KaizenPhase = "do"        // countermeasures are tasks on the board
	KaizenCheck     KaizenPhase = "check"     // the measurement window runs
	KaizenAct       KaizenPhase = "act"       // standardise, or adjust → next cycle
	KaizenSustain   KaizenPhase = "sustain"   // follow-ups at +30/60/90 days
	KaizenClosed    KaizenPhase = "closed"
	KaizenDeferred  KaizenPhase = "deferred"  // back to triage on a date
	KaizenRejected  KaizenPhase = "rejected"  // final
	KaizenCancelled KaizenPhase = "cancelled" // final
)

// Final reports whether the initiative takes no more changes.
func (p KaizenPhase) Final() bool {
	return p == KaizenClosed || p == KaizenRejected || p == KaizenCancelled
}

// FollowUpDays are the sustain check-ins, in days after standardisation.
var FollowUpDays = []int{30, 60, 90}

// KPIRef is the KPI an initiative improves, copied at submission so the
// record reads on its own.
type KPIRef struct {
	Key       string    `json:"key"`
	Name      string    `json:"name"`
	Unit      string    `json:"unit"`
	Direction Direction `json:"direction"`
}

// Ref returns the KPI's reference.
func (k KPI) Ref() KPIRef {
	return KPIRef{Key: k.Key, Name: k.Name, Unit: k.Unit, Direction: k.Direction}
}

// Baseline methods.
const (
	BaselineMeasured = "measured" // mean of the KPI's measurements over From–To
	BaselineEntered  = "entered"  // given by a person, with its source
)

// Baseline is the KPI's value before the change. A client sends either a
// window (from, to) and the server computes the value from the KPI's
// measurements, or a value with its source.
type Baseline struct {
	Value  *float64   `json:"value,omitempty"`
	Method string     `json:"method,omitempty"` // set by the server
	From   *time.Time `json:"from,omitempty"`
	To     *time.Time `json:"to,omitempty"`
	Count  int        `json:"count,omitempty"` // measurements behind a measured value
	Source string     `json:"source,omitempty"`
	Note   string     `json:"note,omitempty"` // e.g. measurement-system remarks
}

// NeedsMeasuring reports whether the value must be computed from a window.
func (b Baseline) NeedsMeasuring() bool { return b.Value == nil }

// CheckInput validates a baseline as a client sends it (field: "baseline").
func (b Baseline) CheckInput(field string) error {
	if b.Value != nil {
		if math.IsNaN(*b.Value) || math.IsInf(*b.Value, 0) {
			return Invalid(field+".value", "value must be a finite number")
		}
		if strings.TrimSpace(b.Source) == "" {
			return Invalid(field+".source", "an entered baseline needs its source (report, system, study)")
		}
	} else {
		if b.From == nil || b.To == nil {
			return Invalid(field+".from", "give a window (from, to) to compute the baseline from the KPI's measurements, or a value with its source")
		}
	}
	if b.From != nil && b.To != nil && !b.From.Before(*b.To) {
		return Invalid(field+".to", "to must be after from")
	}
	return nil
}

// Measured completes a window baseline with the stats of its window. A
// window without measurements cannot be a baseline.
func (b Baseline) Measured(s KPIStats, field string) (Baseline, error) {
	if s.Count == 0 {
		return b, Invalid(field+".from", "kpi %s has no measurements from %s to %s", s.KPI, s.From.Format(time.RFC3339), s.To.Format(time.RFC3339))
	}
	v := Round4(s.Mean)
	b.Value, b.Method, b.Count = &v, BaselineMeasured, s.Count
	if b.Source == "" {
		b.Source = "kpi " + s.KPI + " measurements"
	}
	return b, nil
}

// Target is the value the initiative aims for, and by when (SMART).
type Target struct {
	Value *float64   `json:"value,omitempty"`
	Date  *time.Time `json:"date,omitempty"`
}

// CheckTarget validates t against a baseline value: it must be set, dated
// in the future and strictly better than the baseline in the KPI's
// direction.
func CheckTarget(dir Direction, baseline float64, t Target, now time.Time) error {
	if t.Value == nil || math.IsNaN(*t.Value) || math.IsInf(*t.Value, 0) {
		return Invalid("target.value", "target.value is required")
	}
	if t.Date == nil {
		return Invalid("target.date", "target.date is required")
	}
	if !t.Date.After(now) {
		return Invalid("target.date", "target.date must be in the future")
	}
	if !dir.Better(*t.Value, baseline) {
		word := "above"
		if dir == LowerIsBetter {
			word = "below"
		}
		return Invalid("target.value", "%s is better for this KPI: the target must be %s the baseline %v", dir, word, baseline)
	}
	return nil
}

// KaizenRequest opens an initiative (POST /v1/kaizen). Baseline and target
// may come now or with the plan.
type KaizenRequest struct {
	Title            string    `json:"title"` // the theme: a problem, not a solution
	ProblemStatement string    `json:"problem_statement"`
	BusinessCase     string    `json:"business_case,omitempty"`
	Scope            string    `json:"scope,omitempty"`
	KPI              string    `json:"kpi"`
	Sponsor          string    `json:"sponsor"`
	Owner            string    `json:"owner,omitempty"` // defaults to the submitter
	Team             []string  `json:"team,omitempty"`
	Baseline         *Baseline `json:"baseline,omitempty"`
	Target           *Target   `json:"target,omitempty"`
}

// CheckShape validates what needs no lookup: required fields and the
// separation of sponsor and owner. owner is the resolved owner.
func (r KaizenRequest) CheckShape(owner string) error {
	switch {
	case strings.TrimSpace(r.Title) == "":
		return Invalid("title", "title (the theme) is required")
	case len(r.Title) > 200:
		return Invalid("title", "title must be at most 200 characters")
	case strings.TrimSpace(r.ProblemStatement) == "":
		return Invalid("problem_statement", "problem_statement is required")
	case strings.TrimSpace(r.KPI) == "":
		return Invalid("kpi", "kpi (the key of the KPI to improve) is required")
	case strings.TrimSpace(r.Sponsor) == "":
		return Invalid("sponsor", "sponsor (an approver who triages and approves the plan) is required")
	case r.Sponsor == owner:
		return Invalid("sponsor", "the sponsor must be someone other than the owner")
	}
	if r.Baseline != nil {
		if err := r.Baseline.CheckInput("baseline"); err != nil {
			return err
		}
	}
	if r.Target != nil && r.Baseline == nil {
		return Invalid("baseline", "a target needs a baseline to compare with")
	}
	return nil
}

// Validate checks a request whose baseline is resolved (a value, measured
// or entered) against its KPI. The server calls it before starting the
// workflow, the workflow again when it opens.
func (r KaizenRequest) Validate(k KPI, owner string, now time.Time) error {
	if err := r.CheckShape(owner); err != nil {
		return err
	}
	if k.Key != r.KPI {
		return Invalid("kpi", "unknown kpi %q", r.KPI)
	}
	if r.Baseline != nil && r.Baseline.Value == nil {
		return Invalid("baseline.value", "the baseline has no value")
	}
	if r.Target != nil {
		return CheckTarget(k.Direction, *r.Baseline.Value, *r.Target, now)
	}
	return nil
}

// Countermeasure is one change the plan makes; it becomes a task.
type Countermeasure struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description,omitempty"`
	Owner       string    `json:"owner"`
	Due         time.Time `json:"due"`
}

// Experiment states what the plan expects to learn.
type Experiment struct {
	Hypothesis     string `json:"hypothesis"`
	ExpectedResult string `json:"expected_result,omitempty"`
	TestPlan       string `json:"test_plan,omitempty"`
}

// A3 is the plan (the A3 sheet) a cycle's owner submits.
type A3 struct {
	CurrentCondition string           `json:"current_condition"`
	RootCauses       []string         `json:"root_causes"`
	Countermeasures  []Countermeasure `json:"countermeasures"`
	Experiment       Experiment       `json:"experiment"`
	Baseline         *Baseline        `json:"baseline,omitempty"` // overrides the initiative's
	Target           *Target          `json:"target,omitempty"`   // overrides the initiative's
	CheckWindowDays  int              `json:"check_window_days"`
}

var itemID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// CheckShape validates the plan's own fields.
func (p A3) CheckShape(now time.Time) error {
	switch {
	case strings.TrimSpace(p.CurrentCondition) == "":
		return Invalid("current_condition", "current_condition is required")
	case len(p.RootCauses) == 0:
		return Invalid("root_causes", "name at least one root cause")
	case len(p.Countermeasures) == 0:
		return Invalid("countermeasures", "plan at least one countermeasure")
	case len(p.Countermeasures) > 50:
		return Invalid("countermeasures", "at most 50 countermeasures per cycle")
	case strings.TrimSpace(p.Experiment.Hypothesis) == "":
		return Invalid("experiment.hypothesis", "experiment.hypothesis is required")
	case p.CheckWindowDays < 1 || p.CheckWindowDays > 365:
		return Invalid("check_window_days", "check_window_days must be from 1 to 365")
	}
	for i, rc := range p.RootCauses {
		if strings.TrimSpace(rc) == "" {
			return Invalid(fmt.Sprintf("root_causes[%d]", i), "a root cause cannot be empty")
		}
	}
	seen := map[string]bool{}
	for i, c := range p.Countermeasures {
		f := fmt.Sprintf("countermeasures[%d].", i)
		switch {
		case !itemID.MatchString(c.ID):
			return Invalid(f+"id", "id must be 1–40 lower-case letters, digits, '_' or '-'")
		case seen[c.ID]:
			return Invalid(f+"id", "countermeasure %q appears twice", c.ID)
		case strings.TrimSpace(c.Title) == "":
			return Invalid(f+"title", "title is required")
		case strings.TrimSpace(c.Owner) == "":
			return Invalid(f+"owner", "owner (a user ID) is required")
		case c.Due.IsZero():
			return Invalid(f+"due", "due is required")
		case !c.Due.After(now):
			return Invalid(f+"due", "due must be in the future")
		}
		seen[c.ID] = true
	}
	if p.Baseline != nil {
		if err := p.Baseline.CheckInput("baseline"); err != nil {
			return err
		}
	}
	return nil
}

// KaizenResult is a KPI measured over a window and compared with the
// baseline and the target.
type KaizenResult struct {
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
	Count int       `json:"count"`
	// NoData is set when the window had no measurements; the figures below
	// are then zero and mean nothing.
	NoData    bool    `json:"no_data,omitempty"`
	Mean      float64 `json:"mean"`
	Baseline  float64 `json:"baseline"`
	Target    float64 `json:"target"`
	Change    float64 `json:"change"`               // mean − baseline
	ChangePct float64 `json:"change_pct,omitempty"` // change as % of the baseline (omitted for a zero baseline)
	// GapClosed is the share of the baseline-to-target gap closed: 0 is no
	// change, 1 is the target reached, above 1 beyond it, below 0 worse.
	GapClosed float64 `json:"gap_closed"`
	Improved  bool    `json:"improved"`
	TargetMet bool    `json:"target_met"`
	// Chart says whether the KPI's control chart shows a sustained shift
	// the good way over the window, not only the mean against the target.
	Chart *ShiftVerdict `json:"chart,omitempty"`
}

// ComputeResult compares the stats of a window with baseline and target.
func ComputeResult(dir Direction, baseline, target float64, s KPIStats) KaizenResult {
	r := KaizenResult{From: s.From, To: s.To, Count: s.Count, Baseline: baseline, Target: target}
	if s.Count == 0 {
		r.NoData = true
		return r
	}
	r.Mean = Round4(s.Mean)
	r.Change = Round4(s.Mean - baseline)
	if baseline != 0 {
		r.ChangePct = Round4((s.Mean - baseline) / math.Abs(baseline) * 100)
	}
	if gap := target - baseline; gap != 0 {
		r.GapClosed = Round4((s.Mean - baseline) / gap)
	}
	r.Improved = dir.Better(s.Mean, baseline)
	r.TargetMet = !dir.Better(target, s.Mean)
	return r
}

// Regression judges a follow-up against the level the check achieved:
// it regressed when it lost more than tolerancePct percent of the gain
// (achieved − baseline). With no gain, any loss is a regression. lost is
// the share of the gain lost (0 when nothing was).
func Regression(dir Direction, baseline, achieved, followUp, tolerancePct float64) (regressed bool, lost float64) {
	gain := dir.sign() * (achieved - baseline)
	loss := dir.sign() * (achieved - followUp)
	if loss <= 0 {
		return false, 0
	}
	if gain <= 0 {
		return true, 1
	}
	lost = Round4(loss / gain)
	return lost*100 > tolerancePct, lost
}

// Observation is what the owner saw during check.
type Observation struct {
	Text string    `json:"text"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Standard is the act-phase "standardise" decision.
type Standard struct {
	SOPRef         string   `json:"sop_ref"`
	SOPVersion     string   `json:"sop_version"`
	Training       []string `json:"training,omitempty"` // who is trained on what
	RollOut        []string `json:"roll_out,omitempty"` // "where else": lines, sites, processes
	LessonsLearned string   `json:"lessons_learned,omitempty"`
	// TolerancePct is how much of the gain (in percent) a follow-up may
	// lose before it counts as a regression.
	TolerancePct float64 `json:"regression_tolerance_pct"`
}

// Act decisions.
const (
	ActStandardise = "standardise"
	ActAdjust      = "adjust"
)

// ActionKaizenStandardised is the audit action of a standardisation; the
// read model starts new control limits on the initiative's KPI when it
// projects one.
const ActionKaizenStandardised = "kaizen.standardised"

// ActDecision is the act-phase input.
type ActDecision struct {
	Decision  string    `json:"decision"`
	Standard  *Standard `json:"standard,omitempty"`
	Reason    string    `json:"reason,omitempty"`    // why adjust: what the next cycle changes
	Signature *ESign    `json:"signature,omitempty"` // standardise is signed (Part 11)
}

// Sig is the decision's signature.
func (d *ActDecision) Sig() *ESign { return d.Signature }

// Check validates an act decision.
func (d ActDecision) Check() error {
	switch d.Decision {
	case ActStandardise:
		s := d.Standard
		switch {
		case s == nil:
			return Invalid("standard", "standardise needs standard (sop_ref, sop_version, …)")
		case strings.TrimSpace(s.SOPRef) == "":
			return Invalid("standard.sop_ref", "sop_ref (the SOP or document that now holds the standard) is required")
		case strings.TrimSpace(s.SOPVersion) == "":
			return Invalid("standard.sop_version", "sop_version is required")
		case s.TolerancePct < 0 || s.TolerancePct > 100 || math.IsNaN(s.TolerancePct):
			return Invalid("standard.regression_tolerance_pct", "regression_tolerance_pct must be from 0 to 100")
		}
	case ActAdjust:
		if strings.TrimSpace(d.Reason) == "" {
			return Invalid("reason", "say why the cycle is adjusted and what the next one changes")
		}
		if d.Standard != nil {
			return Invalid("standard", "adjust takes no standard")
		}
	default:
		return Invalid("decision", "decision must be %q or %q", ActStandardise, ActAdjust)
	}
	return nil
}

// FollowUp is one sustain check-in.
type FollowUp struct {
	Day       int           `json:"day"` // 30, 60, 90
	DueAt     time.Time     `json:"due_at"`
	Result    *KaizenResult `json:"result,omitempty"`
	Regressed bool          `json:"regressed,omitempty"`
	LostShare float64       `json:"lost_share,omitempty"` // share of the gain lost
	TaskID    string        `json:"task_id,omitempty"`    // the owner's task raised by a regression
}

// Impact categories and recurrences.
const (
	ImpactHardSavings = "hard_savings"
	ImpactSoftSavings = "soft_savings"
	ImpactTime        = "time"
	ImpactQuality     = "quality"
	ImpactSafety      = "safety"
	OneTime           = "one_time"
	Recurring         = "recurring"
)

var impactCategories = []string{ImpactHardSavings, ImpactSoftSavings, ImpactTime, ImpactQuality, ImpactSafety}

// ImpactEntry is one expected or realised benefit. Entries are keyed by ID:
// recording an ID again revises it. Actual is locked when the initiative
// closes.
type ImpactEntry struct {
	ID          string     `json:"id"`
	Category    string     `json:"category"`
	Description string     `json:"description,omitempty"`
	Unit        string     `json:"unit"` // a currency code, hours, defects, incidents…
	Target      *float64   `json:"target,omitempty"`
	Forecast    *float64   `json:"forecast,omitempty"`
	Actual      *float64   `json:"actual,omitempty"`
	Recurrence  string     `json:"recurrence"`
	RecordedBy  string     `json:"recorded_by,omitempty"`
	RecordedAt  time.Time  `json:"recorded_at,omitzero"`
	LockedAt    *time.Time `json:"locked_at,omitempty"`
}

// Check validates an impact entry as a client sends it.
func (e ImpactEntry) Check() error {
	switch {
	case !itemID.MatchString(e.ID):
		return Invalid("id", "id must be 1–40 lower-case letters, digits, '_' or '-'")
	case !slices.Contains(impactCategories, e.Category):
		return Invalid("category", "category must be one of %s", strings.Join(impactCategories, ", "))
	case strings.TrimSpace(e.Unit) == "":
		return Invalid("unit", "unit is required (a currency code, hours, …)")
	case e.Recurrence != OneTime && e.Recurrence != Recurring:
		return Invalid("recurrence", "recurrence must be %q or %q", OneTime, Recurring)
	case e.Target == nil && e.Forecast == nil && e.Actual == nil:
		return Invalid("target", "give at least one of target, forecast, actual")
	}
	for i, v := range []*float64{e.Target, e.Forecast, e.Actual} {
		if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
			f := []string{"target", "forecast", "actual"}[i]
			return Invalid(f, "%s must be a finite number", f)
		}
	}
	return nil
}

// Decision is who decided what, when and why (triage, plan approval).
type Decision struct {
	Decision string     `json:"decision"`
	Reason   string     `json:"reason,omitempty"`
	By       string     `json:"by"`
	At       time.Time  `json:"at"`
	Until    *time.Time `json:"until,omitempty"` // a deferral's date
}

// KaizenCycle is a finished PDCA cycle, kept on the record when the next
// one starts.
type KaizenCycle struct {
	Cycle        int           `json:"cycle"`
	Plan         *A3           `json:"plan,omitempty"`
	PlanApproval *Decision     `json:"plan_approval,omitempty"`
	Baseline     *Baseline     `json:"baseline,omitempty"`
	Target       *Target       `json:"target,omitempty"`
	Result       *KaizenResult `json:"result,omitempty"`
	Observations []Observation `json:"observations,omitempty"`
	Act          *Decision     `json:"act,omitempty"`
}

// Kaizen is an initiative's record: what GET /v1/kaizen/{id} answers.
type Kaizen struct {
	ID               string        `json:"id"`
	Phase            KaizenPhase   `json:"phase"`
	Cycle            int           `json:"cycle"`
	Title            string        `json:"title"`
	ProblemStatement string        `json:"problem_statement"`
	BusinessCase     string        `json:"business_case,omitempty"`
	Scope            string        `json:"scope,omitempty"`
	KPI              KPIRef        `json:"kpi"`
	Sponsor          string        `json:"sponsor"`
	Owner            string        `json:"owner"`
	Team             []string      `json:"team,omitempty"`
	SubmittedBy      string        `json:"submitted_by"`
	OpenedAt         time.Time     `json:"opened_at"`
	ClosedAt         *time.Time    `json:"closed_at,omitempty"`
	Triage           *Decision     `json:"triage,omitempty"`
	Baseline         *Baseline     `json:"baseline,omitempty"`
	Target           *Target       `json:"target,omitempty"`
	Plan             *A3           `json:"plan,omitempty"`
	PlanApproval     *Decision     `json:"plan_approval,omitempty"`
	CheckFrom        *time.Time    `json:"check_from,omitempty"`
	CheckTo          *time.Time    `json:"check_to,omitempty"`
	Result           *KaizenResult `json:"result,omitempty"`
	Observations     []Observation `json:"observations,omitempty"`
	Act              *Decision     `json:"act,omitempty"`
	Standard         *Standard     `json:"standard,omitempty"`
	StandardisedAt   *time.Time    `json:"standardised_at,omitempty"`
	FollowUps        []FollowUp    `json:"follow_ups,omitempty"`
	Impact           []ImpactEntry `json:"impact"`
	History          []KaizenCycle `json:"history"` // earlier cycles, oldest first
	Cancellation     *Decision     `json:"cancellation,omitempty"`
	// KPISignal is the KPI signal that opened the initiative, if one did;
	// KPISignals the later signals of the same KPI and rule added to it.
	KPISignal  *KPISignalLink  `json:"kpi_signal,omitempty"`
	KPISignals []KPISignalNote `json:"kpi_signals,omitempty"`
	// Signatures are the Part 11 signatures of plan approvals and
	// standardisations, each with the exact record version it covers.
	Signatures     []Signature     `json:"signatures,omitempty"`
	SignedVersions []SignedVersion `json:"signed_versions,omitempty"`
	Tasks          []Task          `json:"tasks"`
	Outside
}

// CanManage reports whether a may act as the initiative's owner.
func (k *Kaizen) CanManage(a Actor) bool { return a.ID == k.Owner || a.Has(RoleAdmin) }

// CheckSponsorAct enforces who may decide as sponsor: never the owner
// (separation of duties, checked first so the answer names it), an
// approver, and the named sponsor unless an admin stands in.
func (k *Kaizen) CheckSponsorAct(a Actor, what string) error {
	if a.ID == k.Owner {
		return Forbidden("the %s must be decided by someone other than the initiative's owner", what)
	}
	if !a.Has(RoleApprover) {
		return Forbidden("the %s needs the approver role", what)
	}
	if a.ID != k.Sponsor && !a.Has(RoleAdmin) {
		return Forbidden("the %s is for the sponsor, %s", what, k.Sponsor)
	}
	return nil
}

// Kaizen step inputs. Actor is always the authenticated user, set by the
// API; Validate checks what can be checked without the initiative's state.
type (
	// KaizenTriageInput is the sponsor's triage decision.
	KaizenTriageInput struct {
		Actor    Actor      `json:"actor,omitzero"`
		Decision string     `json:"decision"` // accept, defer, reject
		Reason   string     `json:"reason"`
		Until    *time.Time `json:"until,omitempty"` // defer: when to reconsider
	}
	// KaizenPlanInput submits the A3 plan (its baseline resolved by the API).
	KaizenPlanInput struct {
		Actor Actor `json:"actor,omitzero"`
		Plan  A3    `json:"plan"`
	}
	// KaizenReviewInput is the sponsor's review of a plan.
	KaizenReviewInput struct {
		Actor     Actor  `json:"actor,omitzero"`
		Decision  string `json:"decision"` // approve, return
		Reason    string `json:"reason,omitempty"`
		Signature *ESign `json:"signature,omitempty"` // an approval is signed (Part 11)
	}
	// ObservationInput records what the owner saw during the check.
	ObservationInput struct {
		Actor Actor  `json:"actor,omitzero"`
		Text  string `json:"text"`
	}
	// KaizenActInput is the owner's act decision: standardise or adjust.
	KaizenActInput struct {
		Actor    Actor       `json:"actor,omitzero"`
		Decision ActDecision `json:"decision"`
	}
	// KaizenImpactInput records or revises an impact entry.
	KaizenImpactInput struct {
		Actor Actor       `json:"actor,omitzero"`
		Entry ImpactEntry `json:"entry"`
	}
	// KaizenRegressionInput is the sponsor's decision after a regression
	// in a sustain follow-up was investigated: run a new PDCA cycle, or
	// accept the result as it is.
	KaizenRegressionInput struct {
		Actor    Actor  `json:"actor,omitzero"`
		Decision string `json:"decision"` // new_cycle, accept
		Reason   string `json:"reason"`
	}
	// KaizenCancelInput cancels an initiative.
	KaizenCancelInput struct {
		Actor  Actor  `json:"actor,omitzero"`
		Reason string `json:"reason"`
	}
)

// Validate checks the decision; a deferral needs the date to reconsider.
func (in KaizenTriageInput) Validate() error {
	switch in.Decision {
	case "accept", "reject":
	case "defer":
		if in.Until == nil {
			return Invalid("until", "a deferral needs the date to reconsider (until)")
		}
	default:
		return Invalid("decision", "decision must be accept, defer or reject")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a triage decision needs a reason")
	}
	return nil
}

// Sig is the review's signature.
func (in *KaizenReviewInput) Sig() *ESign { return in.Signature }

// RequiredSignature: an approval is signed, a return is not.
func (in KaizenReviewInput) RequiredSignature() (*ESign, bool) {
	return in.Signature, in.Decision == "approve"
}

// RequiredSignature: standardising is signed, adjusting is not.
func (in KaizenActInput) RequiredSignature() (*ESign, bool) {
	return in.Decision.Signature, in.Decision.Decision == ActStandardise
}

// Validate checks the review; a returned plan needs the reason.
func (in KaizenReviewInput) Validate() error {
	switch in.Decision {
	case "approve":
	case "return":
		if strings.TrimSpace(in.Reason) == "" {
			return Invalid("reason", "say what the plan needs before it can be approved")
		}
	default:
		return Invalid("decision", "decision must be approve or return")
	}
	return nil
}

// Validate checks the observation.
func (in ObservationInput) Validate() error {
	if strings.TrimSpace(in.Text) == "" {
		return Invalid("text", "text is required")
	}
	return nil
}

// Validate checks the decision.
func (in KaizenActInput) Validate() error { return in.Decision.Check() }

// Validate checks the entry.
func (in KaizenImpactInput) Validate() error { return in.Entry.Check() }

// Validate checks the cancellation.
func (in KaizenCancelInput) Validate() error {
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "a cancellation needs a reason")
	}
	return nil
}

// Validate checks the decision and its reason.
func (in KaizenRegressionInput) Validate() error {
	if in.Decision != "new_cycle" && in.Decision != "accept" {
		return Invalid("decision", "decision must be new_cycle or accept")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return Invalid("reason", "say why")
	}
	return nil
}
