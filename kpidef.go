package opsflow

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// A KPI's definition beyond its registry entry (KPI): what good is, how
// often it is measured, what a signal on its control chart sets in motion
// (ISO 9001 §9.1.1: what is monitored, the methods, when, and when the
// results are analysed). The registry row never changes shape; the spec,
// the target history and the dividers live in tables of their own, and
// every change to them is an audit event on the KPI's stream (KPIStream).

// KindKPI names KPI-level tasks (a missing measurement, a report
// commentary) in the one inbox; a KPI is not a process, but its owner has
// work to do for it.
const KindKPI Kind = "kpi"

// KPIStream is the audit stream of a KPI's definition changes and of what
// its watch did (processes opened, signals noted).
func KPIStream(key string) string { return "kpi/" + key }

// KPITaskProcess is the process ID KPI-level tasks are filed under.
func KPITaskProcess(key string) string { return "kpi/" + key }

// Frequency is how often a KPI is expected to be measured.
type Frequency string

const (
	Daily   Frequency = "daily"
	Weekly  Frequency = "weekly"
	Monthly Frequency = "monthly"
)

// Frequencies lists the frequencies.
var Frequencies = []Frequency{Daily, Weekly, Monthly}

// Next is the moment one period after t: a day, a week, a calendar month.
// Values are dated at the start of the period they describe (October's on
// 1 October, as the built-in KPIs and the report read them), so month
// arithmetic never meets a 31st.
func (f Frequency) Next(t time.Time) time.Time {
	switch f {
	case Daily:
		return t.AddDate(0, 0, 1)
	case Weekly:
		return t.AddDate(0, 0, 7)
	}
	return t.AddDate(0, 1, 0)
}

// MissingRule says when a measurement counts as missing: GraceDays after
// the next one was due. The next value describes the period after the
// last one's, and can be measured only once that period has ended: it is
// due two periods after the last value's date (October's value, dated 1
// October, is followed by November's, due on 1 December). Disabled,
// nobody is chased.
type MissingRule struct {
	Enabled   bool `json:"enabled"`
	GraceDays int  `json:"grace_days"`
}

// Deadline is when a measurement is missing, given the time of the last
// one (or, before any, when the KPI was defined).
func (r MissingRule) Deadline(f Frequency, last time.Time) time.Time {
	return f.Next(f.Next(last)).AddDate(0, 0, r.GraceDays)
}

// Thresholds are the RAG bands around the target, as values of the KPI:
// a value worse than Amber (in the KPI's direction) is amber, worse than
// Red is red. Either may be left out.
type Thresholds struct {
	Amber *float64 `json:"amber,omitempty"`
	Red   *float64 `json:"red,omitempty"`
}

// Response actions: what an unfavourable violation on the chart opens.
const (
	RespondNone   = "none"
	RespondKaizen = "kaizen"
	RespondCAPA   = "capa"
)

// RiskDefaults are the risk factors a KPI's policy suggests for a CAPA it
// opens; a person still scores the risk at triage (the factors are shown
// on the CAPA's KPI link).
type RiskDefaults struct {
	Severity   int `json:"severity"`
	Occurrence int `json:"occurrence"`
	Detection  int `json:"detection"`
}

// ResponsePolicy is what a signal opens, and with whom.
type ResponsePolicy struct {
	Action string `json:"action"` // none, kaizen, capa
	// Owner owns what is opened (the KPI's owner when empty); Sponsor
	// triages a Kaizen (required for kaizen, someone other than Owner).
	Owner    string        `json:"owner,omitempty"`
	Sponsor  string        `json:"sponsor,omitempty"`
	CAPAType string        `json:"capa_type,omitempty"` // corrective (default) or preventive
	Risk     *RiskDefaults `json:"risk,omitempty"`
}

// ChartRules are the detection rules' severities: violation (acts per the
// policy), warning (shown on the chart and report) or ignore. The names
// and meanings are spc's (spc.Rule, spc.Severity).
type ChartRules map[string]string

// Detection rule names (spc.Rule) and severities (spc.Severity).
const (
	RuleBeyondLimits   = "beyond_limits"
	RuleThreeOfFour    = "three_of_four"
	RuleEightOnOneSide = "eight_on_one_side"
	RuleMRAboveURL     = "mr_above_url"

	SeverityViolation = "violation"
	SeverityWarning   = "warning"
	SeverityIgnore    = "ignore"
)

// ChartRuleNames lists the detection rules in the order charts report them.
var ChartRuleNames = []string{RuleBeyondLimits, RuleThreeOfFour, RuleEightOnOneSide, RuleMRAboveURL}

// DefaultChartRules are Wheeler's advice: a point beyond the limits is the
// one signal that needs no corroboration; the run tests add false alarms.
func DefaultChartRules() ChartRules {
	return ChartRules{RuleBeyondLimits: SeverityViolation, RuleThreeOfFour: SeverityWarning,
		RuleEightOnOneSide: SeverityWarning, RuleMRAboveURL: SeverityWarning}
}

// Severity is the severity configured for rule, or its default.
func (r ChartRules) Severity(rule string) string {
	if s, ok := r[rule]; ok {
		return s
	}
	return DefaultChartRules()[rule]
}

// Complete returns every rule with its severity, defaults filled in (an
// unknown rule is kept, for Check to refuse by name).
func (r ChartRules) Complete() ChartRules {
	out := ChartRules{}
	for name, sev := range r {
		out[name] = sev
	}
	for _, name := range ChartRuleNames {
		out[name] = r.Severity(name)
	}
	return out
}

// ChartBaseline says which values a KPI's first segment takes its limits
// from. Unlocked, the limits follow every value (soft limits while data
// accumulate); locked, they come from the first N values, or those dated
// From ≤ at < To, and later values are judged against them.
type ChartBaseline struct {
	Locked   bool       `json:"locked"`
	N        int        `json:"n,omitempty"`
	From     *time.Time `json:"from,omitempty"`
	To       *time.Time `json:"to,omitempty"`
	LockedBy string     `json:"locked_by,omitempty"`
	LockedAt *time.Time `json:"locked_at,omitempty"`
}

func (b ChartBaseline) check(field string) error {
	switch {
	case b.N < 0 || b.N == 1 || b.N > 1000:
		return Invalid(field+".n", "n must be 0 (the default, 20 values) or from 2 to 1000: limits need at least one moving range")
	case b.From != nil && b.To != nil && !b.From.Before(*b.To):
		return Invalid(field+".to", "to must be after from")
	case !b.Locked && (b.N != 0 || b.From != nil || b.To != nil):
		return Invalid(field+".locked", "n, from and to choose the values of a locked baseline: set locked")
	}
	return nil
}

// KPISpec is the part of a KPI's definition that says what good is and
// what happens when the chart says the process changed.
type KPISpec struct {
	Frequency  Frequency      `json:"frequency"`
	Missing    MissingRule    `json:"missing"`
	Method     string         `json:"method,omitempty"` // how it is measured, e.g. "scrapped units / units started, per calendar month"
	Source     string         `json:"source,omitempty"` // where the data come from, e.g. "MES shift report"
	Thresholds Thresholds     `json:"thresholds"`
	Policy     ResponsePolicy `json:"policy"`
	Rules      ChartRules     `json:"rules"`
	Baseline   ChartBaseline  `json:"baseline"`
}

// DefaultKPISpec is the spec of a KPI registered without one: monthly, no
// missing rule, default rules, unlocked baseline, signals open nothing.
func DefaultKPISpec() KPISpec {
	return KPISpec{Frequency: Monthly, Policy: ResponsePolicy{Action: RespondNone}, Rules: DefaultChartRules()}
}

// Normalise fills defaults: a frequency, a policy action, every rule.
func (s KPISpec) Normalise() KPISpec {
	if s.Frequency == "" {
		s.Frequency = Monthly
	}
	if s.Policy.Action == "" {
		s.Policy.Action = RespondNone
	}
	if s.Policy.Action == RespondCAPA && s.Policy.CAPAType == "" {
		s.Policy.CAPAType = CAPATypeCorrective
	}
	s.Rules = s.Rules.Complete()
	return s
}

func finite(v *float64) bool { return v == nil || !(math.IsNaN(*v) || math.IsInf(*v, 0)) }

// Check validates a spec for a KPI improving in direction d, owned by
// owner, naming the field at fault.
func (s KPISpec) Check(d Direction, owner string) error {
	if !slices.Contains(Frequencies, s.Frequency) {
		return Invalid("frequency", "frequency must be daily, weekly or monthly")
	}
	if s.Missing.GraceDays < 0 || s.Missing.GraceDays > 366 {
		return Invalid("missing.grace_days", "grace_days must be from 0 to 366")
	}
	if len(s.Method) > 2000 {
		return Invalid("method", "method must be at most 2000 characters")
	}
	if len(s.Source) > 500 {
		return Invalid("source", "source must be at most 500 characters")
	}
	t := s.Thresholds
	if !finite(t.Amber) {
		return Invalid("thresholds.amber", "amber must be a finite number")
	}
	if !finite(t.Red) {
		return Invalid("thresholds.red", "red must be a finite number")
	}
	if t.Amber != nil && t.Red != nil && !d.Better(*t.Amber, *t.Red) {
		word := "above"
		if d == LowerIsBetter {
			word = "below"
		}
		return Invalid("thresholds.red", "%s is better for this KPI: amber (%v) must be %s red (%v)", d, *t.Amber, word, *t.Red)
	}
	p := s.Policy
	switch p.Action {
	case RespondNone:
	case RespondKaizen:
		own := p.Owner
		if own == "" {
			own = owner
		}
		if strings.TrimSpace(p.Sponsor) == "" {
			return Invalid("policy.sponsor", "a policy that opens a Kaizen needs its sponsor (an approver who triages it)")
		}
		if p.Sponsor == own {
			return Invalid("policy.sponsor", "the sponsor must be someone other than the owner (%s)", own)
		}
	case RespondCAPA:
		if p.CAPAType != CAPATypeCorrective && p.CAPAType != CAPATypePreventive {
			return Invalid("policy.capa_type", "capa_type must be corrective or preventive")
		}
		if p.Risk != nil {
			if _, err := ScoreRisk(p.Risk.Severity, p.Risk.Occurrence, p.Risk.Detection); err != nil {
				e := err.(*Error)
				return Invalid("policy.risk."+e.Field, "%s", e.Message)
			}
		}
	default:
		return Invalid("policy.action", "action must be none, kaizen or capa")
	}
	if p.Action != RespondCAPA && (p.CAPAType != "" || p.Risk != nil) {
		return Invalid("policy.capa_type", "capa_type and risk apply to a policy that opens a CAPA")
	}
	if p.Action != RespondKaizen && p.Sponsor != "" {
		return Invalid("policy.sponsor", "a sponsor applies to a policy that opens a Kaizen")
	}
	rules := make([]string, 0, len(s.Rules))
	for rule := range s.Rules {
		rules = append(rules, rule)
	}
	slices.Sort(rules) // the same input names the same field
	for _, rule := range rules {
		sev := s.Rules[rule]
		if !slices.Contains(ChartRuleNames, rule) {
			return Invalid("rules."+rule, "unknown rule %q (want %s)", rule, strings.Join(ChartRuleNames, ", "))
		}
		if sev != SeverityViolation && sev != SeverityWarning && sev != SeverityIgnore {
			return Invalid("rules."+rule, "severity must be violation, warning or ignore")
		}
	}
	return s.Baseline.check("baseline")
}

// KPITarget is a target value from a date on. Targets are never edited:
// a new one takes effect from its date, and the history stays readable.
type KPITarget struct {
	Value         float64   `json:"value" db:"value"`
	EffectiveFrom time.Time `json:"effective_from" db:"effective_from"`
	Reason        string    `json:"reason,omitempty" db:"reason"`
	SetBy         string    `json:"set_by" db:"set_by"`
	SetAt         time.Time `json:"set_at" db:"set_at"`
}

// Check validates a target as sent.
func (t KPITarget) Check(field string) error {
	if math.IsNaN(t.Value) || math.IsInf(t.Value, 0) {
		return Invalid(field+"value", "value must be a finite number")
	}
	if t.EffectiveFrom.IsZero() {
		return Invalid(field+"effective_from", "effective_from is required")
	}
	if len(t.Reason) > 2000 {
		return Invalid(field+"reason", "reason must be at most 2000 characters")
	}
	return nil
}

// TargetAt returns the target in effect at t from a history in any
// order: the one with the latest EffectiveFrom not after t.
func TargetAt(targets []KPITarget, t time.Time) *KPITarget {
	var best *KPITarget
	for i := range targets {
		x := &targets[i]
		if !x.EffectiveFrom.After(t) && (best == nil || x.EffectiveFrom.After(best.EffectiveFrom)) {
			best = x
		}
	}
	return best
}

// KPIDivider starts new control limits from At on, after a deliberate
// change to the process (a standardised Kaizen, a new machine).
type KPIDivider struct {
	At        time.Time     `json:"at"`
	Label     string        `json:"label"`
	Baseline  ChartBaseline `json:"baseline"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
}

// Check validates a divider as sent.
func (d KPIDivider) Check() error {
	if d.At.IsZero() {
		return Invalid("at", "at (when the change took effect) is required")
	}
	if strings.TrimSpace(d.Label) == "" {
		return Invalid("label", "say what changed (e.g. \"Kaizen kzn-12 standardised\")")
	}
	if len(d.Label) > 200 {
		return Invalid("label", "label must be at most 200 characters")
	}
	return d.Baseline.check("baseline")
}

// KPIDefinition is everything the chart, the watch and the report need to
// know of a KPI.
type KPIDefinition struct {
	KPI
	Spec     KPISpec      `json:"spec"`
	Version  int64        `json:"version"`  // grows with every change
	Targets  []KPITarget  `json:"targets"`  // newest first
	Dividers []KPIDivider `json:"dividers"` // in time order
}

// Target returns the target in effect at t.
func (d KPIDefinition) Target(t time.Time) *KPITarget { return TargetAt(d.Targets, t) }

// TaskAssignee is who a KPI's own tasks (a missing value, a report
// commentary) go to: its owner, or — for a KPI owned by a role, as the
// built-in KPIs are until an administrator names a person — that role's
// queue.
func (d KPIDefinition) TaskAssignee() (assignee string, role Role) {
	if slices.Contains(Roles, Role(d.OwnerID)) {
		return "", Role(d.OwnerID)
	}
	return d.OwnerID, ""
}

// PolicyOwner is who owns what the policy opens.
func (d KPIDefinition) PolicyOwner() string {
	if d.Spec.Policy.Owner != "" {
		return d.Spec.Policy.Owner
	}
	return d.OwnerID
}

// RAG is a status colour.
type RAG string

const (
	Green  RAG = "green"
	Amber  RAG = "amber"
	Red    RAG = "red"
	NoData RAG = "no_data"
)

// SignalSeen is a detection rule firing, as the status judges it.
type SignalSeen struct {
	Rule         string    `json:"rule"`
	Severity     string    `json:"severity"`
	Unfavourable bool      `json:"unfavourable"`
	At           time.Time `json:"at"`
	PointID      string    `json:"point_id,omitempty"`
}

// KPIStatus is a KPI's standing over a period: the actual against the
// target and its RAG status, with the reasons for it.
type KPIStatus struct {
	Status      RAG      `json:"status"`
	Actual      *float64 `json:"actual,omitempty"`
	Count       int      `json:"count"`
	Target      *float64 `json:"target,omitempty"`
	Variance    *float64 `json:"variance,omitempty"`     // actual − target
	VariancePct *float64 `json:"variance_pct,omitempty"` // variance as % of the target (left out for a zero target)
	Reasons     []string `json:"reasons"`
}

// Status judges a period from its actual (nil without measurements), the
// target in effect, the thresholds and the signals that fired on the
// period's points. It reads the chart, not month-on-month deltas:
//
//   - red: an unfavourable violation (a real signal the bad way), or the
//     actual worse than the red threshold;
//   - amber: an unfavourable warning, the actual worse than the amber
//     threshold, or — with no amber threshold — worse than the target;
//   - green otherwise. Favourable signals are news, not alarms.
func Status(d Direction, actual *float64, count int, target *float64, th Thresholds, signals []SignalSeen) KPIStatus {
	s := KPIStatus{Status: Green, Actual: actual, Count: count, Target: target, Reasons: []string{}}
	if actual == nil {
		s.Status = NoData
		s.Reasons = append(s.Reasons, "no measurements in the period")
		return s
	}
	if target != nil {
		v := Round4(*actual - *target)
		s.Variance = &v
		if *target != 0 {
			p := Round4(v / math.Abs(*target) * 100)
			s.VariancePct = &p
		}
	}
	worst := Green
	raise := func(to RAG, reason string) {
		s.Reasons = append(s.Reasons, reason)
		if to == Red || worst == Green {
			worst = to
		}
	}
	for _, sg := range signals {
		if !sg.Unfavourable || sg.Severity == SeverityIgnore {
			continue
		}
		if sg.Severity == SeverityViolation {
			raise(Red, fmt.Sprintf("%s signal (violation) at %s", sg.Rule, sg.At.UTC().Format(time.DateOnly)))
		} else {
			raise(Amber, fmt.Sprintf("%s signal (warning) at %s", sg.Rule, sg.At.UTC().Format(time.DateOnly)))
		}
	}
	switch {
	case th.Red != nil && d.Better(*th.Red, *actual):
		raise(Red, fmt.Sprintf("actual %v is worse than the red threshold %v", Round4(*actual), *th.Red))
	case th.Amber != nil && d.Better(*th.Amber, *actual):
		raise(Amber, fmt.Sprintf("actual %v is worse than the amber threshold %v", Round4(*actual), *th.Amber))
	case th.Amber == nil && target != nil && d.Better(*target, *actual):
		raise(Amber, fmt.Sprintf("actual %v misses the target %v", Round4(*actual), *target))
	}
	s.Status = worst
	return s
}

// KPIBreach is an unfavourable violation on a new measurement: what a
// KPI's response policy acts on.
type KPIBreach struct {
	Rule      string    `json:"rule"`
	Severity  string    `json:"severity"`
	Side      string    `json:"side"` // above or below the centre line (for mr_above_url: the jump's direction)
	PointID   string    `json:"point_id"`
	At        time.Time `json:"at"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	// The limits of the point's segment: what the point was judged
	// against (and a Kaizen's baseline, when one is opened).
	CL           float64   `json:"cl"`
	UNPL         float64   `json:"unpl"`
	LNPL         float64   `json:"lnpl"`
	BaselineFrom time.Time `json:"baseline_from"`
	BaselineTo   time.Time `json:"baseline_to"`
	BaselineN    int       `json:"baseline_n"`
}

// SignalKey identifies a breach among a KPI's: one rule firing on one
// point.
func (b KPIBreach) SignalKey() string { return b.Rule + "@" + b.PointID }

// Describe says what the breach is, in a sentence.
func (b KPIBreach) Describe(k KPI) string {
	what := map[string]string{
		RuleBeyondLimits:   "a point beyond the natural process limits",
		RuleThreeOfFour:    "three of four points beyond the halfway line",
		RuleEightOnOneSide: "eight points in a row on one side of the centre line",
		RuleMRAboveURL:     "a jump larger than the upper range limit",
	}[b.Rule]
	return fmt.Sprintf("%s: %s (%s) — value %v %s, against %v (centre line %v)", k.Name, what, b.Rule,
		Round4(b.Value), k.Unit, Round4(b.Threshold), Round4(b.CL))
}

// KPISignalLink is what a process opened by a KPI signal shows of it: the
// KPI, the signal and where to see the chart.
type KPISignalLink struct {
	KPI       KPIRef        `json:"kpi"`
	Rule      string        `json:"rule"`
	PointID   string        `json:"point_id"`
	At        time.Time     `json:"at"`
	Value     float64       `json:"value"`
	Threshold float64       `json:"threshold"`
	CL        float64       `json:"cl"`
	Chart     string        `json:"chart"` // the chart's path in the API
	Risk      *RiskDefaults `json:"suggested_risk,omitempty"`
}

// KPISignalNote is a later signal of the same KPI and rule, added to the
// process already open for it instead of opening another.
type KPISignalNote struct {
	Actor     Actor     `json:"actor,omitzero"`
	KPI       string    `json:"kpi"`
	Rule      string    `json:"rule"`
	PointID   string    `json:"point_id"`
	At        time.Time `json:"at"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
}

// Key identifies the note's signal.
func (n KPISignalNote) Key() string { return n.Rule + "@" + n.PointID }

// LinkOf is the link of a process opened by breach b of KPI k.
func LinkOf(k KPIDefinition, b KPIBreach) *KPISignalLink {
	l := &KPISignalLink{KPI: k.Ref(), Rule: b.Rule, PointID: b.PointID, At: b.At.UTC(), Value: b.Value, Threshold: b.Threshold,
		CL: Round4(b.CL), Chart: "/v1/kpis/" + k.Key + "/chart.png"}
	if k.Spec.Policy.Action == RespondCAPA {
		l.Risk = k.Spec.Policy.Risk
	}
	return l
}

// NoteOf is the note of a later breach b.
func NoteOf(key string, b KPIBreach) KPISignalNote {
	return KPISignalNote{Actor: SystemActor, KPI: key, Rule: b.Rule, PointID: b.PointID, At: b.At.UTC(), Value: b.Value, Threshold: b.Threshold}
}

// KPILink is a process opened for a KPI's signals, as the KPI shows it.
type KPILink struct {
	ProcessID string     `json:"process_id" db:"process_id"`
	Kind      Kind       `json:"kind" db:"kind"`
	Rule      string     `json:"rule" db:"rule"`
	PointID   string     `json:"point_id" db:"point_id"`
	OpenedAt  time.Time  `json:"opened_at" db:"opened_at"`
	Signals   int        `json:"signals" db:"signals"` // signals it holds, the first included
	Title     string     `json:"title" db:"title"`
	State     string     `json:"state" db:"state"`
	Owner     string     `json:"owner" db:"owner_id"`
	DueAt     *time.Time `json:"due_at,omitempty" db:"due_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty" db:"closed_at"`
}

// ShiftVerdict is spc.SustainedShift's answer as a Kaizen result or a
// CAPA effectiveness review cites it: did the chart move, which way, and
// on what evidence.
type ShiftVerdict struct {
	KPI      string `json:"kpi,omitempty"` // the KPI whose chart it is
	Verdict  string `json:"verdict"`       // shifted_favourably, shifted_unfavourably, no_shift, insufficient_data
	Rule     string `json:"rule,omitempty"`
	Sentence string `json:"sentence"`
	// The old process: centre line and natural process limits.
	BeforeCL   float64 `json:"before_cl"`
	BeforeUNPL float64 `json:"before_unpl"`
	BeforeLNPL float64 `json:"before_lnpl"`
	BeforeN    int     `json:"before_n"`
	// The values judged, and how they fall around the old centre line.
	After                int      `json:"after"`
	Favourable           int      `json:"favourable"`
	Unfavourable         int      `json:"unfavourable"`
	LongestFavourableRun int      `json:"longest_favourable_run"`
	AfterCL              *float64 `json:"after_cl,omitempty"`
	NewSegment           bool     `json:"new_segment"`
}

// Sustained reports whether the chart shows a sustained shift the good way.
func (v *ShiftVerdict) Sustained() bool { return v != nil && v.Verdict == "shifted_favourably" }
