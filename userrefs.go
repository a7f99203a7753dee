package opsflow

import "fmt"

// UserRef is a field of an input that names a person by user ID. The API
// checks every one against the users it knows, so a typo ("ghost") is a
// 422 naming the field instead of a task nobody can ever see.
type UserRef struct {
	Field string
	ID    string
}

// UserReferrer is an input that names people.
type UserReferrer interface {
	UserRefs() []UserRef
}

// refs collects the non-empty references.
func refs(pairs ...UserRef) []UserRef {
	out := pairs[:0:0]
	for _, p := range pairs {
		if p.ID != "" {
			out = append(out, p)
		}
	}
	return out
}

func actionRefs(prefix string, as []ActionInput) []UserRef {
	var out []UserRef
	for i, a := range as {
		out = append(out, UserRef{fmt.Sprintf("%s[%d].owner", prefix, i), a.Owner})
	}
	return out
}

// UserRefs names the CAPA's owner and its containment actions' owners.
func (r CAPARequest) UserRefs() []UserRef {
	return refs(append([]UserRef{{"owner", r.Owner}}, actionRefs("containment", r.Containment)...)...)
}

// UserRefs names the new containment actions' owners.
func (in ContainmentInput) UserRefs() []UserRef { return refs(actionRefs("actions", in.Actions)...) }

// UserRefs names the actions' owners and the effectiveness reviewer.
func (in PlanInput) UserRefs() []UserRef {
	return refs(append(actionRefs("actions", in.Actions), UserRef{"effectiveness.reviewer", in.Effectiveness.Reviewer})...)
}

// UserRefs names the initiative's sponsor, owner and team.
func (r KaizenRequest) UserRefs() []UserRef {
	out := []UserRef{{"sponsor", r.Sponsor}, {"owner", r.Owner}}
	for i, m := range r.Team {
		out = append(out, UserRef{fmt.Sprintf("team[%d]", i), m})
	}
	return refs(out...)
}

// UserRefs names the countermeasures' owners.
func (a A3) UserRefs() []UserRef {
	var out []UserRef
	for i, c := range a.Countermeasures {
		out = append(out, UserRef{fmt.Sprintf("countermeasures[%d].owner", i), c.Owner})
	}
	return refs(out...)
}
