package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// The administrators' list of users: by role, by text in the ID, name or
// address (a LIKE wildcard typed is text, not a wildcard), a page at a
// time; each with their signing state and sign-on identity.
func TestAccounts(t *testing.T) {
	ctx := t.Context()
	pre := uniqueStream(t) + "-"
	by := opsflow.Actor{ID: "cli:ops", Name: "ops", Roles: []opsflow.Role{opsflow.RoleAdmin}}
	for _, p := range []opsflow.Profile{
		{ID: pre + "ann", Name: "Ann Cat Stone", Roles: []opsflow.Role{opsflow.RoleOwner}, Email: "ann@Example.com", Timezone: "UTC"},
		{ID: pre + "ben", Name: "Ben 100% Sure", Roles: []opsflow.Role{opsflow.RoleApprover, opsflow.RoleOwner}, Timezone: "UTC"},
		{ID: pre + "cat", Name: "Cat_Stone", Roles: []opsflow.Role{opsflow.RoleAuditor}, Timezone: "UTC"},
	} {
		if _, _, err := testDB.SaveProfile(ctx, p, by); err != nil {
			t.Fatal(err)
		}
	}
	if err := testDB.SetSigningPassword(ctx, pre+"ben", "$argon2id$not-checked-here", by); err != nil {
		t.Fatal(err)
	}
	policy := opsflow.SigningPolicy{MaxFailures: 1, Lockout: time.Hour}
	if _, err := testDB.RecordSigningFailure(ctx, pre+"ben", "a test", policy); err != nil {
		t.Fatal(err)
	}
	link := SSOLink{Issuer: "https://login.example.com", Subject: "00u-" + pre + "cat"}
	if _, err := testDB.LinkSSO(ctx, pre+"cat", link, by, "moves to single sign-on"); err != nil {
		t.Fatal(err)
	}

	ids := func(f AccountFilter) ([]string, string) {
		t.Helper()
		page, err := testDB.Accounts(ctx, f)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		var out []string
		for _, a := range page.Items {
			out = append(out, a.ID)
		}
		return out, page.NextCursor
	}
	for _, c := range []struct {
		f    AccountFilter
		want []string
	}{
		{AccountFilter{Query: pre}, []string{pre + "ann", pre + "ben", pre + "cat"}},
		{AccountFilter{Query: pre, Role: opsflow.RoleOwner}, []string{pre + "ann", pre + "ben"}},
		{AccountFilter{Query: "ANN@EXAMPLE"}, []string{pre + "ann"}},
		{AccountFilter{Query: "100%"}, []string{pre + "ben"}},
		{AccountFilter{Query: "0% s"}, []string{pre + "ben"}},
		{AccountFilter{Query: "t_s"}, []string{pre + "cat"}}, // "_" is no wildcard: ann's "Cat Stone" does not match
		{AccountFilter{Query: pre + "ben", Role: opsflow.RoleAuditor}, nil},
	} {
		got, _ := ids(c.f)
		got = slices.DeleteFunc(got, func(id string) bool { return !slices.Contains([]string{pre + "ann", pre + "ben", pre + "cat"}, id) })
		if !slices.Equal(got, c.want) {
			t.Errorf("%+v: %v, want %v", c.f, got, c.want)
		}
	}
	// Paged: one at a time, in ID order, each once.
	var all []string
	cursor := ""
	for range 5 {
		got, next := ids(AccountFilter{Query: pre, Limit: 1, Cursor: cursor})
		all = append(all, got...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(all, []string{pre + "ann", pre + "ben", pre + "cat"}) {
		t.Errorf("paged: %v", all)
	}
	if _, err := testDB.Accounts(ctx, AccountFilter{Cursor: "not a cursor"}); opsflow.ErrorCode(err) != opsflow.EINVALID {
		t.Errorf("a bad cursor: %v", err)
	}

	ann, err := testDB.Account(ctx, pre+"ann")
	if err != nil || ann.SigningPasswordSet || ann.SigningLocked || ann.SSO != nil || ann.Email != "ann@Example.com" {
		t.Errorf("ann: %+v %v", ann, err)
	}
	ben, err := testDB.Account(ctx, pre+"ben")
	if err != nil || !ben.SigningPasswordSet || ben.SigningPasswordSetAt == nil || !ben.SigningLocked || ben.SigningLockedUntil == nil ||
		ben.SigningLockedUntil.Location() != time.UTC {
		t.Errorf("ben: %+v %v", ben, err)
	}
	cat, err := testDB.Account(ctx, pre+"cat")
	if err != nil || cat.SSO == nil || *cat.SSO != link {
		t.Errorf("cat: %+v %v", cat, err)
	}
	if _, err := testDB.Account(ctx, pre+"nobody"); opsflow.ErrorCode(err) != opsflow.ENOTFOUND {
		t.Errorf("no such user: %v", err)
	}
}

// Two administrators creating one ID at once: one creates it, the other is
// told it exists, and the first one's name stays.
func TestCreateProfileOnlyCreates(t *testing.T) {
	ctx := context.Background()
	id := fmt.Sprintf("twin-%d", time.Now().UnixNano())
	names := []string{"First Twin", "Second Twin"}
	errs := make(chan error, len(names))
	for _, name := range names {
		go func() {
			_, err := testDB.CreateProfile(ctx, opsflow.Profile{ID: id, Name: name, Roles: []opsflow.Role{opsflow.RoleOwner}, Timezone: "UTC"}, opsflow.SystemActor)
			errs <- err
		}()
	}
	created, conflicts := 0, 0
	for range names {
		switch err := <-errs; opsflow.ErrorCode(err) {
		case "":
			created++
		case opsflow.ECONFLICT:
			conflicts++
		default:
			t.Errorf("create: %v", err)
		}
	}
	if created != 1 || conflicts != 1 {
		t.Fatalf("created %d, conflicts %d: want one of each", created, conflicts)
	}
	p, err := testDB.Profile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testDB.CreateProfile(ctx, opsflow.Profile{ID: id, Name: "Third", Roles: []opsflow.Role{opsflow.RoleOwner}}, opsflow.SystemActor); opsflow.ErrorCode(err) != opsflow.ECONFLICT {
		t.Errorf("a create of an existing user: %v", err)
	}
	if again, _ := testDB.Profile(ctx, id); again.Name != p.Name || (p.Name != names[0] && p.Name != names[1]) {
		t.Errorf("the user is %q, then %q", p.Name, again.Name)
	}
}
