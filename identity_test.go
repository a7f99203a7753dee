package opsflow

import "testing"

func TestCheckUserID(t *testing.T) {
	for id, ok := range map[string]bool{
		"alice": true, "bob.chen@example.com": true, "root": true, "dev": true, "Ω-7": true,
		"": false, " ": false, "system": false, "SYSTEM": false, "opsflow": false, "admin": false, "Auditor": false,
		"hr": false, "me": false, "anonymous": false, "cli:alice": false, "CLI:x": false, " alice": false, "alice\n": false, "a\x00b": false,
	} {
		if err := CheckUserID(id); (err == nil) != ok {
			t.Errorf("CheckUserID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestSameRoles(t *testing.T) {
	if !SameRoles([]Role{RoleOwner, RoleAdmin}, []Role{RoleAdmin, RoleOwner, RoleAdmin}) || SameRoles([]Role{RoleOwner}, []Role{RoleOwner, RoleHR}) {
		t.Fatal("SameRoles")
	}
}
