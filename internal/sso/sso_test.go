package sso

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

func TestParseRoleMap(t *testing.T) {
	m, err := ParseRoleMap(" quality=owner,requester; qa-leads=approver ;quality=auditor")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m["quality"], []opsflow.Role{opsflow.RoleOwner, opsflow.RoleRequester, opsflow.RoleAuditor}) || !slices.Equal(m["qa-leads"], []opsflow.Role{opsflow.RoleApprover}) {
		t.Errorf("map %v", m)
	}
	for _, bad := range []string{"quality", "=owner", "quality=wizard", "quality="} {
		if _, err := ParseRoleMap(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestLocalPathAndShapes(t *testing.T) {
	for p, ok := range map[string]bool{"/v1/me": true, "/": true, "//evil.example": false, "/\\evil": false, "https://evil.example": false, "": false, "/a\r\nSet-Cookie: x": false} {
		if localPath(p) != ok {
			t.Errorf("localPath(%q) = %v", p, !ok)
		}
	}
	if LooksLikeJWT("opsf_abc.def.ghi") || !LooksLikeJWT("a.b.c") || LooksLikeJWT("opsf_abc") {
		t.Error("JWT shapes")
	}
}

// TestFlowCookie: the login's state is sealed; a changed byte or another
// key does not open it.
func TestFlowCookie(t *testing.T) {
	l := &Login{CookieKey: []byte(strings.Repeat("k", 32))}
	f := flow{State: "s", Nonce: "n", Verifier: "v", ReturnTo: "/x", Expires: time.Now().Add(time.Minute).UTC()}
	sealed, err := l.seal(f)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := l.open(sealed); err != nil || got.State != "s" || got.Verifier != "v" || got.ReturnTo != "/x" {
		t.Fatalf("open: %+v %v", got, err)
	}
	b := []byte(sealed)
	b[len(b)/2] ^= 1
	if _, err := l.open(string(b)); err == nil {
		t.Error("a tampered cookie opened")
	}
	other := &Login{CookieKey: []byte(strings.Repeat("x", 32))}
	if _, err := other.open(sealed); err == nil {
		t.Error("another key opened the cookie")
	}
}
