package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

type tokenRow struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Label      string     `json:"label"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	State      string     `json:"state"`
}

// TestAdminTokens: administrators list tokens (never the secret: ID,
// user, label, last use, expiry, state) and revoke one, which this API
// refuses at once; an expired token authenticates no more.
func TestAdminTokens(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	u := opsflow.User{ID: "tara-" + uniq(), Name: "Tara Moss", Roles: []opsflow.Role{opsflow.RoleRequester}}
	laptop, err := a.DB.CreateToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(1500 * time.Millisecond)
	shortLived, err := a.DB.IssueTokenUntil(ctx, u, "ci job", opsflow.SystemActor, &soon)
	if err != nil {
		t.Fatal(err)
	}
	shared.tokens[u.ID], shared.tokens[u.ID+"/ci"] = laptop, shortLived
	t.Cleanup(func() { delete(shared.tokens, u.ID); delete(shared.tokens, u.ID+"/ci") })

	a.Must(http.StatusOK, u.ID, "GET", "/v1/me", nil) // records its last use
	var page struct {
		Items []tokenRow `json:"items"`
	}
	a.Must(http.StatusOK, "root", "GET", "/v1/admin/tokens?user="+u.ID, nil).JSON(t, &page)
	if len(page.Items) != 2 || page.Items[0].Label != "ci job" || page.Items[1].LastUsedAt == nil || page.Items[0].ExpiresAt == nil {
		t.Fatalf("tokens of %s: %+v", u.ID, page.Items)
	}
	for _, it := range page.Items {
		if it.State != "active" || it.ID != postgres.TokenID(laptop) && it.ID != postgres.TokenID(shortLived) {
			t.Errorf("token %+v", it)
		}
	}
	a.Must(http.StatusForbidden, u.ID, "GET", "/v1/admin/tokens", nil)
	a.Must(http.StatusUnprocessableEntity, "root", "GET", "/v1/admin/tokens?state=lost", nil)

	// Expired: refused, and listed as such.
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	a.Must(http.StatusUnauthorized, u.ID+"/ci", "GET", "/v1/me", nil)
	a.Must(http.StatusOK, "root", "GET", "/v1/admin/tokens?user="+u.ID+"&state=expired", nil).JSON(t, &page)
	if len(page.Items) != 1 || page.Items[0].State != "expired" {
		t.Errorf("expired tokens: %+v", page.Items)
	}

	// Revoked: refused at once by this API, and recorded on the user's stream.
	var rev tokenRow
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/tokens/"+postgres.TokenID(laptop)+"/revoke", nil).JSON(t, &rev)
	if rev.State != "revoked" || rev.RevokedAt == nil {
		t.Errorf("revoked: %+v", rev)
	}
	a.Must(http.StatusUnauthorized, u.ID, "GET", "/v1/me", nil)
	a.Must(http.StatusOK, "root", "POST", "/v1/admin/tokens/"+postgres.TokenID(laptop)+"/revoke", nil)
	a.Must(http.StatusNotFound, "root", "POST", "/v1/admin/tokens/tok_nope/revoke", nil)
	events, err := a.DB.AuditEvents(ctx, opsflow.UserStream(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == "token.revoked" && e.ActorID == "root" && e.Old == postgres.TokenID(laptop) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("token.revoked by root recorded %d times: %+v", n, events)
	}
}
