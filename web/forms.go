package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opsflow/opsflow"
)

// The inputs of every step's form, by kind and by the step's path in the
// step table (opsflow.Kinds). Titles and explanations come from the step
// table itself; these are only the inputs, named by the body's JSON paths
// (a test checks each name against the step's body type, and that every
// step has a form).

var capaSources = opts(opsflow.CAPASourceTypes)

var sixM = opts(opsflow.SixM)

var stepFields = map[opsflow.Kind]map[string][]Field{
	opsflow.KindCAPA: {
		"triage": {
			{Name: "severity", Label: "Severity", Type: inNumber, Help: "How bad the effect is."},
			{Name: "occurrence", Label: "Occurrence", Type: inNumber, Help: "How likely it happens."},
			{Name: "detection", Label: "Detection", Type: inNumber, Help: "How hard it is to detect (higher is harder)."},
			{Name: "comment", Label: "Comment", Type: inTextarea, Rows: 2},
		},
		"decide": {
			{Name: "capa_required", Label: "Is a CAPA required?", Type: inYesNo},
			{Name: "rationale", Label: "Rationale", Type: inTextarea, Rows: 3},
			{Name: "signature.printed_name", Label: "Your printed name (signature)", Type: inText, Autocomplete: "name"},
			{Name: "signature.meaning", Label: "Meaning of this signature", Type: inText, Value: "CAPA decision"},
			{Name: "signature.signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Signing is an act of its own (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"add-containment": {
			{Name: "actions", Label: "Containment actions", Type: inGroup, Rows: 2, Fields: []Field{
				{Name: "description", Label: "What", Type: inText},
				{Name: "owner", Label: "Owner (user ID)", Type: inText},
				{Name: "due_days", Label: "Due in (days)", Type: inNumber},
			}},
		},
		"verify-containment": {
			{Name: "comment", Label: "How was the containment verified?", Type: inTextarea, Rows: 3},
		},
		"record-investigation": {
			{Name: "problem.what", Label: "What happened", Type: inTextarea, Rows: 2},
			{Name: "problem.where", Label: "Where", Type: inText},
			{Name: "problem.when", Label: "When", Type: inText},
			{Name: "problem.how_many", Label: "How many", Type: inNumber},
			{Name: "problem.who", Label: "Who found it", Type: inText},
			{Name: "problem.how", Label: "How it was detected", Type: inText},
			{Name: "problem.is_not", Label: "Is not (where or what it is not)", Type: inText},
			{Name: "method", Label: "RCA method", Type: inSelect, Options: opts([]string{"5_whys", "fishbone", "both", "fault_tree", "8d", "other"})},
			{Name: "whys", Label: "Whys", Type: inGroup, Rows: 5, Fields: []Field{
				{Name: "question", Label: "Why?", Type: inText},
				{Name: "answer", Label: "Because", Type: inText},
				{Name: "evidence", Label: "Evidence", Type: inText},
			}},
			{Name: "fishbone", Label: "Fishbone causes", Type: inGroup, Rows: 3, Fields: []Field{
				{Name: "category", Label: "Category (6M)", Type: inSelect, Options: sixM},
				{Name: "cause", Label: "Cause", Type: inText},
			}},
			{Name: "root_causes", Label: "Root causes", Type: inGroup, Rows: 2, Fields: []Field{
				{Name: "statement", Label: "Root cause", Type: inText},
				{Name: "category", Label: "Category (6M)", Type: inSelect, Options: sixM},
				{Name: "verified", Label: "Verified", Type: inCheck},
				{Name: "evidence", Label: "Evidence", Type: inText},
			}},
			{Name: "escape_point", Label: "Escape point", Type: inTextarea, Rows: 2, Help: "Where the problem should have been caught and was not."},
			{Name: "extent", Label: "Extent: similar cases elsewhere", Type: inLines, Rows: 2, Help: "One per line."},
			{Name: "extent_review", Label: "Or: where you looked and found none", Type: inText},
		},
		"propose-plan": {
			{Name: "actions", Label: "Actions", Type: inGroup, Rows: 3, Fields: []Field{
				{Name: "kind", Label: "Kind", Type: inSelect, Options: opts([]string{opsflow.ActionCorrective, opsflow.ActionPreventive})},
				{Name: "description", Label: "What", Type: inText},
				{Name: "owner", Label: "Owner (user ID)", Type: inText},
				{Name: "due_days", Label: "Due in (days)", Type: inNumber},
				{Name: "doc_ref", Label: "Document reference", Type: inText},
			}},
			{Name: "effectiveness.metric", Label: "Effectiveness: what is measured", Type: inText},
			{Name: "effectiveness.baseline", Label: "Baseline", Type: inText},
			{Name: "effectiveness.criterion", Label: "Acceptance criterion", Type: inText},
			{Name: "effectiveness.window_days", Label: "Window (days)", Type: inNumber},
			{Name: "effectiveness.reviewer", Label: "Reviewer (user ID, optional)", Type: inText, Help: "Any approver other than the owner, if left empty."},
			{Name: "effectiveness.kpi", Label: "KPI whose chart judges it (key, optional)", Type: inText},
		},
		"approve-plan": {
			{Name: "approved", Label: "Approve the plan?", Type: inYesNo},
			{Name: "comment", Label: "Comment", Type: inTextarea, Rows: 2, Help: "Say why, when you send it back."},
			{Name: "signature.printed_name", Label: "Your printed name (signature)", Type: inText, Autocomplete: "name"},
			{Name: "signature.meaning", Label: "Meaning of this signature", Type: inText, Value: "plan reviewed"},
			{Name: "signature.signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Signing is an act of its own (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"complete-action": {
			{Name: "action_id", Type: inHidden},
			{Name: "evidence.text", Label: "What was done", Type: inTextarea, Rows: 2},
			{Name: "evidence.refs", Label: "References", Type: inLines, Rows: 2, Help: "Document IDs, change-control numbers, links; one per line."},
		},
		"verify-implementation": {
			{Name: "implemented_as_planned", Label: "Implemented as planned?", Type: inYesNo},
			{Name: "no_adverse_effect", Label: "Free of adverse effects?", Type: inYesNo},
			{Name: "adverse_effect_assessment", Label: "How were adverse effects assessed?", Type: inTextarea, Rows: 2},
			{Name: "comment", Label: "Comment", Type: inTextarea, Rows: 2},
		},
		"record-effectiveness": {
			{Name: "outcome", Label: "Outcome", Type: inSelect, Options: opts([]string{opsflow.OutcomeEffective, opsflow.OutcomeIneffective, opsflow.OutcomeInconclusive})},
			{Name: "data", Label: "Measured values", Type: inTextarea, Rows: 2},
			{Name: "evidence.text", Label: "Evidence", Type: inTextarea, Rows: 2},
			{Name: "evidence.refs", Label: "References", Type: inLines, Rows: 2},
			{Name: "reason", Label: "Why (ineffective or inconclusive)", Type: inTextarea, Rows: 2},
			{Name: "signature.printed_name", Label: "Your printed name (signature)", Type: inText, Autocomplete: "name"},
			{Name: "signature.meaning", Label: "Meaning of this signature", Type: inText, Value: "effectiveness judged"},
			{Name: "signature.signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Signing is an act of its own (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"sign-closure": {
			{Name: "printed_name", Label: "Your printed name", Type: inText, Autocomplete: "off"},
			{Name: "meaning", Label: "Meaning of this signature", Type: inText, Value: "approved for closure"},
			{Name: "lessons_learned", Label: "Lessons learned", Type: inTextarea, Rows: 3},
			{Name: "signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Signing is an act of its own (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"request-extension": {
			{Name: "task_id", Label: "Task", Type: inSelect},
			{Name: "new_due", Label: "New due date and time (UTC)", Type: inDateTime},
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
		"decide-extension": {
			{Name: "approved", Label: "Approve the extension?", Type: inYesNo},
			{Name: "comment", Label: "Comment", Type: inTextarea, Rows: 2},
		},
		"cancel": {
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
	},
	opsflow.KindKaizen: {
		"triage": {
			{Name: "decision", Label: "Decision", Type: inSelect, Options: opts([]string{"accept", "defer", "reject"})},
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
			{Name: "until", Label: "Reconsider on (deferral, UTC)", Type: inDateTime},
		},
		"submit-plan": {
			{Name: "current_condition", Label: "Current condition", Type: inTextarea, Rows: 3},
			{Name: "root_causes", Label: "Root causes", Type: inLines, Rows: 3, Help: "One per line."},
			{Name: "countermeasures", Label: "Countermeasures", Type: inGroup, Rows: 3, Fields: []Field{
				{Name: "id", Label: "Short ID", Type: inText, Help: "e.g. vents"},
				{Name: "title", Label: "What", Type: inText},
				{Name: "owner", Label: "Owner (user ID)", Type: inText},
				{Name: "due", Label: "Due (UTC)", Type: inDateTime},
			}},
			{Name: "experiment.hypothesis", Label: "Hypothesis", Type: inText},
			{Name: "experiment.expected_result", Label: "Expected result", Type: inText},
			{Name: "baseline.value", Label: "Baseline value", Type: inNumber, Help: "Leave empty to keep the initiative's baseline."},
			{Name: "baseline.source", Label: "Baseline source", Type: inText},
			{Name: "target.value", Label: "Target value", Type: inNumber},
			{Name: "target.date", Label: "Target date (UTC)", Type: inDateTime},
			{Name: "check_window_days", Label: "Check window (days)", Type: inNumber},
		},
		"approve-plan": {
			{Name: "decision", Label: "Decision", Type: inSelect, Options: opts([]string{"approve", "return"})},
			{Name: "reason", Label: "Reason (when returned)", Type: inTextarea, Rows: 2},
			{Name: "signature.printed_name", Label: "Your printed name (signature)", Type: inText, Autocomplete: "name"},
			{Name: "signature.meaning", Label: "Meaning of this signature", Type: inText, Value: "A3 plan reviewed"},
			{Name: "signature.signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Signing is an act of its own (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"record-observations": {
			{Name: "text", Label: "What you observed", Type: inTextarea, Rows: 3},
		},
		"act": {
			{Name: "decision", Label: "Decision", Type: inSelect, Options: opts([]string{opsflow.ActStandardise, opsflow.ActAdjust})},
			{Name: "standard.sop_ref", Label: "SOP reference (standardise)", Type: inText},
			{Name: "standard.sop_version", Label: "SOP version", Type: inText},
			{Name: "standard.training", Label: "Training", Type: inLines, Rows: 2, Help: "Who is trained on what; one per line."},
			{Name: "standard.roll_out", Label: "Where else", Type: inLines, Rows: 2, Help: "Lines, sites, processes; one per line."},
			{Name: "standard.regression_tolerance_pct", Label: "Regression tolerance (% of the gain)", Type: inNumber},
			{Name: "reason", Label: "Adjust: what the next cycle changes", Type: inTextarea, Rows: 2},
			{Name: "signature.printed_name", Label: "Standardise: your printed name (signature)", Type: inText, Autocomplete: "name"},
			{Name: "signature.meaning", Label: "Meaning of this signature", Type: inText, Help: "e.g. standard approved"},
			{Name: "signature.signing_password", Label: "Your signing password", Type: inPassword, Autocomplete: "off", Help: "Standardising is signed (21 CFR 11.200): enter your signing password. It is checked and never stored."},
		},
		"record-impact": {
			{Name: "id", Label: "Short ID", Type: inText, Help: "Recording an ID again revises it."},
			{Name: "category", Label: "Category", Type: inSelect, Options: opts([]string{opsflow.ImpactHardSavings, opsflow.ImpactSoftSavings, opsflow.ImpactTime, opsflow.ImpactQuality, opsflow.ImpactSafety})},
			{Name: "description", Label: "Description", Type: inText},
			{Name: "unit", Label: "Unit", Type: inText, Help: "A currency code, hours, defects…"},
			{Name: "target", Label: "Target", Type: inNumber},
			{Name: "forecast", Label: "Forecast", Type: inNumber},
			{Name: "actual", Label: "Actual", Type: inNumber},
			{Name: "recurrence", Label: "Recurrence", Type: inSelect, Options: opts([]string{opsflow.OneTime, opsflow.Recurring})},
		},
		"cancel": {
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
		"decide-regression": {
			{Name: "decision", Label: "Decision", Type: inSelect, Options: opts([]string{"new_cycle", "accept"})},
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
	},
	opsflow.KindOnboarding: {
		"check-ins": {
			{Name: "day", Type: inHidden},
			{Name: "notes", Label: "Notes", Type: inTextarea, Rows: 3},
			{Name: "sentiment", Label: "The hire's sentiment (1 struggling – 5 thriving)", Type: inNumber},
			{Name: "risks", Label: "Risks", Type: inLines, Rows: 2, Help: "One per line."},
		},
		"move-start-date": {
			{Name: "start_date", Label: "New start date", Type: inDate},
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
		"cancel": {
			{Name: "reason", Label: "Reason", Type: inTextarea, Rows: 2},
		},
	},
}

// taskFields are the inputs of the steps on one task (tasks/{task_id}/…),
// by verb: the moves and the reassignment every kind has, and an
// onboarding's provisioning retry.
var taskFields = map[string][]Field{
	"reassign": {
		{Name: "assignee", Label: "Hand it to (user ID)", Type: inText},
		{Name: "reason", Label: "Why", Type: inText},
	},
	"retry":    nil,
	"start":    nil,
	"complete": {{Name: "evidence", Label: "Evidence", Type: inLines, Rows: 1, Help: "Document IDs, asset tags, links; one per line."}},
	"block":    {{Name: "reason", Label: "Why is it blocked?", Type: inText}},
	"skip":     {{Name: "reason", Label: "Why is it not applicable?", Type: inText}},
}

// submitLabel is a form's button.
var submitLabel = map[string]string{
	"triage": "Save", "decide": "Decide", "add-containment": "Add", "verify-containment": "Verify containment",
	"record-investigation": "Record investigation", "propose-plan": "Propose plan", "approve-plan": "Decide",
	"complete-action": "Complete action", "verify-implementation": "Verify", "record-effectiveness": "Record",
	"sign-closure": "Sign", "request-extension": "Ask", "decide-extension": "Decide", "cancel": "Cancel it",
	"submit-plan": "Submit plan", "record-observations": "Record", "act": "Decide", "record-impact": "Record impact",
	"decide-regression": "Decide", "check-ins": "Record check-in", "move-start-date": "Move start date",
	"start": "Start", "complete": "Complete", "block": "Block", "skip": "Skip", "retry": "Retry provisioning", "reassign": "Reassign",
}

// formFor returns the form of a step of record id: its inputs, posted to
// the web app's twin of the API route. taskID fills {task_id}.
func formFor(ki opsflow.KindInfo, st opsflow.Step, id, taskID, csrf string) *Form {
	path := strings.ReplaceAll(st.Path, "{task_id}", taskID)
	verb := path
	if i := strings.LastIndex(path, "/"); i >= 0 {
		verb = path[i+1:]
	}
	var fields []Field
	if isTaskStep(st) {
		fields = taskFields[verb]
	} else {
		fields = stepFields[ki.Kind][st.Path]
	}
	f := &Form{ID: domID(path), Verb: verb, Title: st.Summary, Doc: st.Doc, Action: "/" + ki.Collection + "/" + url.PathEscape(id) + "/" + path,
		Submit: submitLabel[verb], Fields: cloneFields(fields), CSRF: csrf, Key: randomToken()}
	if f.Submit == "" {
		f.Submit = "Save"
	}
	return f
}

// isTaskStep reports whether a step acts on one task of its process.
func isTaskStep(st opsflow.Step) bool { return strings.HasPrefix(st.Path, "tasks/{task_id}/") }

func cloneFields(fs []Field) []Field {
	out := make([]Field, len(fs))
	for i, f := range fs {
		f.Fields = cloneFields(f.Fields)
		out[i] = f
	}
	return out
}

// set sets the default (or hidden value) of the input named name.
func (f *Form) set(name, value string) *Form {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			f.Fields[i].Value = value
		}
	}
	return f
}

// choices sets the options of a select.
func (f *Form) choices(name string, o []Option) *Form {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			f.Fields[i].Options = o
		}
	}
	return f
}

// taskForms are the task steps a person may take on one task now: one
// form per move the record's gate allows, and the reassignment.
func taskForms(ki opsflow.KindInfo, g opsflow.Gate, id string, t opsflow.Task, a opsflow.Actor, csrf string, skip func(opsflow.Step) bool) []*Form {
	var out []*Form
	for _, st := range ki.Steps {
		if skip != nil && skip(st) {
			continue
		}
		switch {
		case st.MovesTaskTo != "":
			if g.CanMoveTask(t.ID, st.MovesTaskTo, a) != nil {
				continue
			}
		case st.Name == opsflow.UpdateReassignTask:
			if g.CanReassignTask(t.ID, a) != nil {
				continue
			}
		default:
			continue
		}
		f := formFor(ki, st, id, t.ID, csrf)
		f.ID = domID(id, f.ID) // unique across processes: My work lists several
		f.Style = styleInline
		f.Title = ""
		f.Doc = ""
		out = append(out, f)
	}
	return out
}

// kinds are the step tables, built once: a page asks for them per task.
var kinds = func() map[opsflow.Kind]opsflow.KindInfo {
	m := map[opsflow.Kind]opsflow.KindInfo{}
	for _, ki := range opsflow.Kinds() {
		m[ki.Kind] = ki
	}
	return m
}()

// kindInfo returns the description of kind k.
func kindInfo(k opsflow.Kind) opsflow.KindInfo { return kinds[k] }

// formState is a refused post of one form, put back on its page: what
// was typed and what the API said.
type formState struct {
	ID      string
	Values  url.Values
	Error   *opsflow.Error
	Renames map[string]string
	Key     string
	Back    string
}

// apply puts a refused post back on the form it came from.
func (st *formState) apply(forms []*Form) bool {
	if st == nil {
		return false
	}
	for _, f := range forms {
		if f.ID == st.ID {
			f.Values, f.Error, f.Renames, f.Open = st.Values, st.Error, st.Renames, true
			if st.Back != "" {
				f.Back = st.Back
			}
			if st.Key != "" {
				f.Key = st.Key
			}
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// ---- forms posted to an API route of their own

// apiForm is a form of the app that posts to an API route other than a
// process's step, as a page shows it.
type apiForm struct {
	method, route string // the route as the API's document names it
	form          *Form
	noBody        bool // a button alone, for a route that takes no body
}

// apiForms lists those forms (the steps' are the step table's).
func apiForms() []apiForm {
	s := &session{}
	now := time.Now()
	return []apiForm{
		{http.MethodPost, "/v1/capas", reportForm(s), false},
		{http.MethodPut, meRoute, profileForm(s, opsflow.Profile{}), false},
		{http.MethodPut, signingRoute, signingForm(s, true), false},
		{http.MethodPost, reportsRoute, runReportForm(s, now), false},
		{http.MethodPost, measurementsRoute, measurementForm(s, opsflow.KPI{Key: "k"}, now), false},
		{http.MethodPost, kpisRoute, defineKPIForm(s), false},
		{http.MethodPost, targetsRoute, targetForm(s, opsflow.KPI{Key: "k"}), false},
		{http.MethodPatch, kpiRoute, changeKPIForm(s, kpiRecord{KPI: opsflow.KPI{Key: "k"}}), false},
		{http.MethodPost, baselineRoute, baselineForm(s, kpiRecord{KPI: opsflow.KPI{Key: "k"}}), false},
		{http.MethodPost, dividersRoute, dividerForm(s, opsflow.KPI{Key: "k"}), false},
		{http.MethodPost, retryProcessRoute, retryProcessForm(s, "capa-1", ""), false},
		{http.MethodPost, abandonProcessRoute, abandonProcessForm(s, "capa-1", ""), false},
		{http.MethodPost, resendRoute, resendForm(s, "1", ""), true},
		{http.MethodPost, revokeTokenRoute, revokeTokenForm(s, "t1", ""), true},
		{http.MethodPut, userRoute, newUserForm(s), false},
		{http.MethodPut, userRoute, userProfileForm(s, opsflow.Account{}), false},
		{http.MethodPost, unlockRoute, unlockSigningForm(s, opsflow.Account{}), false},
		{http.MethodPut, userSSORoute, linkSSOForm(s, opsflow.Account{}), false},
		{http.MethodPost, userUnlinkRoute, unlinkSSOForm(s, opsflow.Account{}), false},
		{http.MethodPost, myTokensRoute, newTokenForm(s, "new-token", "/settings/tokens", "Create a token"), false},
		{http.MethodPost, revokeMyTokenRoute, revokeMyTokenForm(s, apiToken{ID: "t1"}, false), true},
		{http.MethodPost, userTokensRoute, issueTokenForm(s, opsflow.Account{}), false},
	}
}

// CheckForms lists what is wrong with the app's forms that post to an API
// route of their own: a route the API does not serve or that takes no
// body, an input that is no field of the body (it would be dropped, and
// the API's 422 about the field would not land next to it). The server's
// tests run it against the API's route table.
func CheckForms(api API) []string {
	var out []string
	for _, f := range apiForms() {
		t := api.Body(f.method, f.route)
		if f.noBody {
			if t != nil || !api.Serves(f.method, f.route) || len(inputNames(f.form.Fields)) > 0 {
				out = append(out, fmt.Sprintf("form %s: %s %s takes a body, or is not served, or the form has inputs", f.form.ID, f.method, f.route))
			}
			continue
		}
		if t == nil || !api.Serves(f.method, f.route) {
			out = append(out, fmt.Sprintf("form %s: %s %s takes no body, or is not served", f.form.ID, f.method, f.route))
			continue
		}
		for _, name := range inputNames(f.form.Fields) {
			if !hasPath(t, name) {
				out = append(out, fmt.Sprintf("form %s: input %q is not a field of the body of %s %s (%v)", f.form.ID, name, f.method, f.route, t))
			}
		}
	}
	return out
}

// inputNames are the JSON paths a form's inputs send: a group's by its
// first row, a fieldset's own, none of the inputs the app keeps to itself.
func inputNames(fs []Field) []string {
	var out []string
	for _, fd := range fs {
		switch {
		case fd.Local:
		case fd.Type == inGroup:
			for _, sub := range inputNames(fd.Fields) {
				out = append(out, fd.Name+"[0]."+sub)
			}
		case fd.Type == inSet:
			out = append(out, inputNames(fd.Fields)...)
		default:
			out = append(out, fd.Name)
		}
	}
	return out
}
