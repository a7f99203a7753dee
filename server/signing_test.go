package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/server"
)

// TestSigningReauthenticates: a signed step needs the signer's signing
// password, which the bearer token is not; wrong ones are recorded on the
// signer's own audit stream and lock signing after the configured number,
// until the configured time or an administrator's unlock; the signature
// is bound to the hash of the record version signed, which names the
// record.
func TestSigningReauthenticates(t *testing.T) {
	a := newAppWith(t, func(c *server.Config) {
		c.Signing = opsflow.SigningPolicy{MaxFailures: 3, Lockout: time.Hour}
	})
	sam, tok := a.newSamReyes()

	id := newCAPA(a, "Signed decision")
	a.step(http.StatusOK, "alice", id, "triage", map[string]any{"severity": 4, "occurrence": 3, "detection": 4})
	decide := func(pw string) response {
		return a.Do(sam, "POST", "/v1/capas/"+id+"/decide", map[string]any{"capa_required": true, "rationale": "recurring",
			"signature": map[string]any{"printed_name": "Sam Reyes", "meaning": "CAPA required", "signing_password": pw}})
	}
	// No signing password yet: say how to set one.
	if r := decide("anything at all"); r.Status != http.StatusForbidden || !strings.Contains(r.Err(t).Message, "/v1/me/signing-password") {
		t.Fatalf("without a signing password: %d %s", r.Status, r.Body)
	}
	a.Must(http.StatusUnprocessableEntity, sam, "PUT", "/v1/me/signing-password", map[string]any{"new_password": "short"})
	a.Must(http.StatusNoContent, sam, "PUT", "/v1/me/signing-password", map[string]any{"new_password": "sam's first phrase"})
	if e := a.Must(http.StatusUnprocessableEntity, sam, "PUT", "/v1/me/signing-password", map[string]any{"new_password": "sam's second phrase"}).Err(t); e.Field != "current_password" {
		t.Errorf("a change without the current password: %+v", e)
	}
	a.Must(http.StatusNoContent, sam, "PUT", "/v1/me/signing-password", map[string]any{"current_password": "sam's first phrase", "new_password": "sam's second phrase"})

	// The token is not the signing password; three wrong ones lock.
	for i, pw := range []string{tok, "sam's first phrase", "guess"} {
		r := decide(pw)
		e := r.Err(t)
		if r.Status != http.StatusForbidden || e.Field != "signature.signing_password" {
			t.Fatalf("wrong password %d: %d %+v", i, r.Status, e)
		}
		if i == 2 && !strings.Contains(e.Message, "locked until") {
			t.Errorf("the third failure does not lock: %s", e.Message)
		}
	}
	if r := decide("sam's second phrase"); r.Status != http.StatusForbidden || !strings.Contains(r.Err(t).Message, "locked") {
		t.Fatalf("the right password while locked: %d %s", r.Status, r.Body)
	}
	if c := a.capa(id); c.State != "triage" || len(c.Signatures) != 0 {
		t.Fatalf("signed while it should not: %+v", c)
	}
	a.Must(http.StatusForbidden, "bob", "POST", "/v1/admin/users/"+sam+"/unlock-signing", map[string]any{"reason": "x"})
	a.Must(http.StatusUnprocessableEntity, "root", "POST", "/v1/admin/users/"+sam+"/unlock-signing", map[string]any{})
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/users/"+sam+"/unlock-signing", map[string]any{"reason": "identity checked by phone"})
	r := decide("sam's second phrase")
	if r.Status != http.StatusOK {
		t.Fatalf("after the unlock: %d %s", r.Status, r.Body)
	}
	var rec opsflow.CAPA
	r.JSON(t, &rec)
	if len(rec.Signatures) != 1 || len(rec.SignedVersions) != 1 {
		t.Fatalf("signatures %+v", rec.Signatures)
	}
	s, v := rec.Signatures[0], rec.SignedVersions[0]
	if s.SignerID != sam || s.PrintedName != "Sam Reyes" || s.Meaning != "CAPA required" || s.Step != "decide" || s.RecordID != id ||
		s.Method != opsflow.SignMethodPassword || s.SignedAt.Location() != time.UTC {
		t.Errorf("signature %+v", s)
	}
	// Bound to this record's version: the hash is of the signed version,
	// which is this CAPA with the decision in it.
	var signed opsflow.CAPA
	if h, _ := opsflow.RecordHash(v.Record); h != s.RecordHash || json.Unmarshal(v.Record, &signed) != nil || signed.ID != id || signed.Decision == nil {
		t.Errorf("signed version %s does not hash to %s or is not this decision", v.Record, s.RecordHash)
	}

	// The signer's stream has every attempt, never a password.
	events, err := a.DB.AuditEvents(context.Background(), opsflow.UserStream(sam))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.Action]++
		if text := e.Old + e.New + e.Reason; strings.Contains(text, "phrase") || strings.Contains(text, tok) {
			t.Errorf("a secret in %s: %+v", e.ID, e)
		}
	}
	for action, n := range map[string]int{"signing_password.set": 1, "signing_password.changed": 1, "signature.failed": 3,
		"signing.locked": 1, "signature.refused": 1, "signing.unlocked": 1} {
		if count[action] != n {
			t.Errorf("%s: %d events, want %d (all: %v)", action, count[action], n, count)
		}
	}
	if brk := opsflow.VerifyChain(events); brk != nil {
		t.Errorf("user stream: %+v", brk)
	}
}
