package opsflow

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestReadPolicy(t *testing.T) {
	capa := Process{Kind: KindCAPA, Participants: []string{"alice", "dave"}}
	onb := Process{Kind: KindOnboarding, Participants: []string{"maya"}}
	kzn := Process{Kind: KindKaizen, Participants: []string{"kim"}}
	itTask := []Task{{ID: "laptop", Role: RoleIT}, {ID: "lunch", Assignee: "erin"}}
	u := func(id string, roles ...Role) User { return User{ID: id, Roles: roles} }
	cases := []struct {
		user          User
		capa, onb, kz Access
	}{
		{u("alice", RoleOwner), ReadAccess, NoAccess, ReadAccess},
		{u("zed", RoleRequester), NoAccess, NoAccess, ReadAccess}, // kaizen: all staff by default
		{u("bob", RoleApprover), ReadAccess, NoAccess, ReadAccess},
		{u("carol", RoleAuditor), ReadAccess, NoAccess, ReadAccess},
		{u("hana", RoleHR), NoAccess, ReadAccess, ReadAccess},
		{u("maya", RoleManager), NoAccess, ReadAccess, ReadAccess},
		{u("ivan", RoleIT), NoAccess, TaskAccess, ReadAccess},
		{u("erin", RoleOwner), NoAccess, TaskAccess, ReadAccess},
		{u("root", RoleAdmin), ReadAccess, ReadAccess, ReadAccess},
	}
	pol := DefaultReadPolicy()
	for _, c := range cases {
		sc := pol.Scope(c.user)
		if got := sc.Access(capa, nil); got != c.capa {
			t.Errorf("%s on a CAPA: %v, want %v", c.user.ID, got, c.capa)
		}
		if got := sc.Access(onb, itTask); got != c.onb {
			t.Errorf("%s on an onboarding: %v, want %v", c.user.ID, got, c.onb)
		}
		if got := sc.Access(kzn, nil); got != c.kz {
			t.Errorf("%s on a Kaizen: %v, want %v", c.user.ID, got, c.kz)
		}
	}
	none, err := ParseAllStaff("none")
	if err != nil || none.Scope(u("zed", RoleRequester)).CanRead(kzn) {
		t.Errorf("with no kind open to all staff, a requester reads a Kaizen: %v", err)
	}
}

func TestParticipantsAndRedact(t *testing.T) {
	rec := []byte(`{"reported_by":"rita","owner":"oscar","containment":[{"owner":"cora"}],"actions":[{"owner":"adam"}],
		"cycles":[{"actions":[{"owner":"old"}]}],"effectiveness":{"plan":{"reviewer":"rev"}},"tasks":[{"id":"t","assignee":"tess","state":"open","weight":1,"escalation_level":0}]}`)
	got, err := Participants(KindCAPA, rec)
	if want := []string{"adam", "cora", "old", "oscar", "rev", "rita", "tess"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("CAPA participants %v %v, want %v", got, err, want)
	}
	onb := []byte(`{"hire":{"name":"Noor","email":"noor@example.com"},"placement":{"manager_id":"maya","mentor_id":"erin"},"check_ins":[{"day":30,"notes":"struggling"}]}`)
	if got, _ := Participants(KindOnboarding, onb); !slices.Equal(got, []string{"maya"}) {
		t.Errorf("onboarding participants %v", got)
	}
	red, err := Redact(KindOnboarding, onb)
	if err != nil {
		t.Fatal(err)
	}
	var o Onboarding
	if err := json.Unmarshal(red, &o); err != nil || o.Hire.Email != "" || o.Hire.Name != "Noor" || len(o.CheckIns) != 0 || !o.Redacted {
		t.Errorf("redacted: %s", red)
	}
}

func TestESignCheck(t *testing.T) {
	bob := Actor{ID: "bob", Name: "Bob Chen"}
	ok := &ESign{PrintedName: "bob chen", Meaning: "approved", Method: SignMethodPassword}
	if err := ok.Check("signature", bob); err != nil {
		t.Errorf("a checked signature: %v", err)
	}
	for name, c := range map[string]struct {
		sig   *ESign
		field string
	}{
		"missing":      {nil, "signature"},
		"another name": {&ESign{PrintedName: "Erin Silva", Meaning: "x", Method: SignMethodPassword}, "signature.printed_name"},
		"no meaning":   {&ESign{PrintedName: "Bob Chen", Method: SignMethodPassword}, "signature.meaning"},
		"unchecked":    {&ESign{PrintedName: "Bob Chen", Meaning: "x", Password: "pw"}, "signature.signing_password"},
	} {
		var e *Error
		if err := c.sig.Check("signature", bob); err == nil || !errors.As(err, &e) || e.Field != c.field {
			t.Errorf("%s: %v, want field %s", name, err, c.field)
		}
	}
	// The API's step validation requires the signature, the workflow's
	// check alone does not (steps from before signatures replay unsigned).
	yes := true
	in := DecideInput{Actor: bob, Required: &yes, Rationale: "r"}
	if err := in.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if _, err := CAPAStep.Decide.Input(Call{Actor: bob}, DecideInput{Required: &yes, Rationale: "r"}); err == nil {
		t.Error("an unsigned decision passes the step's input")
	}
	pol := DefaultSigningPolicy()
	if pol.CheckSigningPassword(User{ID: "bob", Name: "Bob Chen"}, "bob chen") == nil || pol.CheckSigningPassword(User{ID: "bob"}, "a fine long phrase") != nil {
		t.Error("signing password rules")
	}
}
