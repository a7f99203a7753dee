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

// A link names the field at fault: an issuer that is no http(s) URL, a
// missing subject, either longer than a provider sends.
func TestSSOLinkValidate(t *testing.T) {
	long := func(n int) string { return string(make([]byte, n)) }
	for _, c := range []struct {
		link  SSOLink
		field string // "" valid
	}{
		{SSOLink{"https://login.example.com", "00u1ann"}, ""},
		{SSOLink{"http://127.0.0.1:8080/oidc", "sub-1"}, ""},
		{SSOLink{"", "00u1ann"}, "issuer"},
		{SSOLink{"login.example.com", "00u1ann"}, "issuer"},
		{SSOLink{"ftp://login.example.com", "00u1ann"}, "issuer"},
		{SSOLink{"https://login.example.com/\x00", "00u1ann"}, "issuer"},
		{SSOLink{"https://x.example/" + long(MaxSSOIssuer), "00u1ann"}, "issuer"},
		{SSOLink{"https://login.example.com", " "}, "subject"},
		{SSOLink{"https://login.example.com", "a\nb"}, "subject"},
		{SSOLink{"https://login.example.com", "s" + long(MaxSSOSubject)}, "subject"},
		{SSOLink{}, "issuer"},
	} {
		got := ""
		if err := c.link.Validate(); err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != EINVALID {
				t.Errorf("%.60q: %v, want an invalid error", c.link, err)
				continue
			}
			got = e.Field
		}
		if got != c.field {
			t.Errorf("%.60q: field %q, want %q (\"\" valid)", c.link, got, c.field)
		}
	}
	if s := (SSOLink{}).String(); s != "none" {
		t.Errorf("no link: %q", s)
	}
}
