package opsflow

import (
	"reflect"
	"slices"
)

// A step is one thing a person does to a running process: triage a CAPA,
// approve a Kaizen plan, hold a check-in. Each kind of process lists its
// steps once, here in the domain, and three places derive from that list:
// the workflow registers one update per step (checked against the list by
// a test), the API serves one route per step, and the OpenAPI document
// describes that route with the step's body and example. Adding a step is
// one entry here and its check and apply in the workflow.

// Call is what the API knows of a step besides its body: who acts (and
// when), and the task its path names, for task steps.
type Call struct {
	Actor  Actor
	TaskID string
}

// StepDef defines a step whose request body is B and whose update input
// (what the workflow receives, with the actor) is In.
type StepDef[B, In any] struct {
	Kind Kind
	// Name is the Temporal update's name.
	Name string
	// Path is the route below /v1/<collection>/{id}/; Name when empty. It
	// may hold {task_id}.
	Path    string
	Summary string
	Doc     string
	// Example is a valid body, shown in the API reference; a test checks
	// it against the body's schema and the step's own validation.
	Example B
	// NoBody marks a step that takes no body; OptionalBody one whose body
	// may be left out (a task moved without a reason or evidence).
	NoBody, OptionalBody bool
	input                func(Call, B) (In, error)
}

// Input makes the update's input from a call and its body, and checks
// what can be checked without the process's state: a bad body is refused
// before anything is sent to the workflow.
func (d StepDef[B, In]) Input(c Call, b B) (In, error) { return d.input(c, b) }

// Route is the step's path below the process.
func (d StepDef[B, In]) Route() string {
	if d.Path != "" {
		return d.Path
	}
	return d.Name
}

// Step is a step without its types, for the API's routes and document.
type Step struct {
	Kind                     Kind
	Name, Path, Summary, Doc string
	// Body is the request body's type; nil when the step takes none.
	Body         reflect.Type
	OptionalBody bool
	Example      any
	// Input is StepDef.Input for a body of type Body (nil when none).
	Input func(Call, any) (any, error)
	// InputType is the update input's type, what the workflow decodes.
	InputType reflect.Type
	// MovesTaskTo is the state a task step moves its task to (empty for
	// the other steps), so a page can ask the record whether that move is
	// open to a person before offering it.
	MovesTaskTo TaskState
}

// Step returns d without its types.
func (d StepDef[B, In]) Step() Step {
	s := Step{Kind: d.Kind, Name: d.Name, Path: d.Route(), Summary: d.Summary, Doc: d.Doc, OptionalBody: d.OptionalBody,
		Example: d.Example, InputType: reflect.TypeFor[In]()}
	if !d.NoBody {
		s.Body = reflect.TypeFor[B]()
	}
	s.Input = func(c Call, b any) (any, error) {
		body, _ := b.(B) // nil (no body) is B's zero value
		return d.input(c, body)
	}
	return s
}

// asInput defines a step whose body is its input: the API sets the actor
// (the Actor field every input has) and the input's Validate, if any,
// checks it.
func asInput[In any](kind Kind, name, path, summary, doc string, example In) StepDef[In, In] {
	return StepDef[In, In]{Kind: kind, Name: name, Path: path, Summary: summary, Doc: doc, Example: example,
		input: func(c Call, in In) (In, error) {
			setActor(&in, c.Actor)
			return in, validate(in)
		}}
}

// fromBody defines a step whose body is turned into its input by make.
func fromBody[B, In any](kind Kind, name, path, summary, doc string, example B, make func(Call, B) (In, error)) StepDef[B, In] {
	return StepDef[B, In]{Kind: kind, Name: name, Path: path, Summary: summary, Doc: doc, Example: example,
		input: func(c Call, b B) (In, error) {
			in, err := make(c, b)
			if err != nil {
				return in, err
			}
			return in, validate(in)
		}}
}

// setActor sets the Actor field of the input p points to.
func setActor(p any, a Actor) {
	v := reflect.ValueOf(p).Elem()
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Actor"); f.IsValid() && f.Type() == reflect.TypeFor[Actor]() {
			f.Set(reflect.ValueOf(a))
		}
	}
}

// validate checks a step's input as the API makes it: its own Validate,
// and the signature the step requires. (Workflows check Validate alone: a
// signature they are given they record, but running processes whose
// earlier steps were unsigned must replay as they ran.)
func validate(in any) error {
	if v, ok := in.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if s, ok := in.(signedInput); ok {
		if sig, required := s.RequiredSignature(); required {
			field := "signature"
			if _, flat := in.(SignInput); flat {
				field = ""
			}
			return sig.Check(field, actorOf(in))
		}
	}
	return nil
}

// signedInput is a step input that may need a signature.
type signedInput interface {
	RequiredSignature() (*ESign, bool)
}

// actorOf reads the Actor field of a step input.
func actorOf(in any) Actor {
	v := reflect.ValueOf(in)
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Actor"); f.IsValid() && f.Type() == reflect.TypeFor[Actor]() {
			return f.Interface().(Actor)
		}
	}
	return Actor{}
}

// NoBody is the body of a step that takes none.
type NoBody struct{}

// TaskAction is the body of a task step: a reason (to block or skip) and
// evidence (to complete). Both may be left out where they are not needed.
type TaskAction struct {
	Reason   string   `json:"reason,omitempty"`
	Evidence []string `json:"evidence,omitempty"`
}

// taskSteps are the task steps every process has, one update (move-task)
// with the state named by the route.
func taskSteps(kind Kind) []Step {
	move := func(verb string, to TaskState, summary, doc string, ex TaskAction) Step {
		d := fromBody(kind, UpdateMoveTask, "tasks/{task_id}/"+verb, summary, doc, ex,
			func(c Call, b TaskAction) (TaskMove, error) {
				return TaskMove{Actor: c.Actor, TaskID: c.TaskID, State: to, Reason: b.Reason, Evidence: b.Evidence}, nil
			})
		d.OptionalBody = true
		s := d.Step()
		s.MovesTaskTo = to
		return s
	}
	reassign := fromBody(kind, UpdateReassignTask, "tasks/{task_id}/reassign", "Reassign a task",
		"The process's owner or an administrator hands an open task to another person (a known user); recorded in the trail, and the new assignee is notified.",
		ReassignBody{Assignee: "dave", Reason: "Ann is on leave until March"},
		func(c Call, b ReassignBody) (TaskReassign, error) {
			return TaskReassign{Actor: c.Actor, TaskID: c.TaskID, Assignee: b.Assignee, Reason: b.Reason}, nil
		}).Step()
	return []Step{
		reassign,
		move("start", TaskInProgress, "Start a task", "The assignee (or someone holding the task's role) starts work.", TaskAction{}),
		move("complete", TaskDone, "Complete a task", "Evidence (document IDs, asset tags, links) may be attached.", TaskAction{Evidence: []string{"QN-881"}}),
		move("block", TaskBlocked, "Block a task", "A blocked task needs a reason; it stays overdue-able.", TaskAction{Reason: "waiting for the supplier's certificate"}),
		move("skip", TaskSkipped, "Skip a task", "Skipping needs a reason and never counts as done; required tasks cannot be skipped.", TaskAction{Reason: "not applicable to this line"}),
	}
}

// UpdateMoveTask is the update of every task step that moves a task;
// UpdateReassignTask hands one to another person.
const (
	UpdateMoveTask     = "move-task"
	UpdateReassignTask = "reassign-task"
)

// ReassignBody is the body of a task's reassignment.
type ReassignBody struct {
	Assignee string `json:"assignee"` // a user ID
	Reason   string `json:"reason,omitempty"`
}

// UserRefs names the person the body hands the task to.
func (b ReassignBody) UserRefs() []UserRef { return []UserRef{{"assignee", b.Assignee}} }

// KindInfo describes a kind of process for the API: its collection, its
// record and its steps.
type KindInfo struct {
	Kind       Kind
	Collection string // the URL collection: capas, kaizen, onboardings
	Title      string // as people say it: "CAPA", "Kaizen initiative", "onboarding"
	Record     reflect.Type
	Steps      []Step
}

// Kinds lists every kind of process, in the order the API documents them.
func Kinds() []KindInfo {
	return []KindInfo{
		{Kind: KindCAPA, Collection: "capas", Title: "CAPA", Record: reflect.TypeFor[CAPA](), Steps: append(CAPASteps(), taskSteps(KindCAPA)...)},
		{Kind: KindKaizen, Collection: "kaizen", Title: "Kaizen initiative", Record: reflect.TypeFor[Kaizen](), Steps: append(KaizenSteps(), taskSteps(KindKaizen)...)},
		{Kind: KindOnboarding, Collection: "onboardings", Title: "onboarding", Record: reflect.TypeFor[Onboarding](), Steps: append(OnboardingSteps(), taskSteps(KindOnboarding)...)},
	}
}

// KindOf returns the description of kind k.
func KindOf(k Kind) (KindInfo, bool) {
	for _, ki := range Kinds() {
		if ki.Kind == k {
			return ki, true
		}
	}
	return KindInfo{}, false
}

// UpdateNames lists the distinct update names of a kind's steps.
func (ki KindInfo) UpdateNames() []string {
	var names []string
	for _, s := range ki.Steps {
		if !slices.Contains(names, s.Name) {
			names = append(names, s.Name)
		}
	}
	return names
}
