package postgres

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// A revocation and a change of roles are announced to every listener (an
// API process forgets the tokens it trusted), once each committed; a
// revocation that changes nothing is not.
func TestListenAuthHearsRevocationsAndRoleChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	heard := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- ListenAuth(ctx, testURL, slog.New(slog.DiscardHandler), func() { heard <- struct{}{} })
	}()
	// The listener is up once a change is heard: announce one until it is.
	u := opsflow.User{ID: "listen-" + time.Now().Format("150405.000000"), Name: "Lee", Roles: []opsflow.Role{opsflow.RoleOwner}}
	token, err := testDB.CreateToken(ctx, u, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	roles := [][]opsflow.Role{{opsflow.RoleApprover}, {opsflow.RoleOwner}}
	for i := 0; ; i++ {
		if _, err := testDB.SetUserRoles(ctx, u.ID, roles[i%2], opsflow.SystemActor, "listening"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-heard:
		case <-time.After(time.Second):
			if i < 30 {
				continue
			}
			t.Fatal("no role change heard in 30 s")
		}
		break
	}
	drain := func() {
		for {
			select {
			case <-heard:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	drain()
	if err := testDB.RevokeToken(ctx, TokenID(token)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-heard:
	case <-time.After(30 * time.Second):
		t.Fatal("a revocation was not heard")
	}
	drain()
	if err := testDB.RevokeToken(ctx, TokenID(token)); err != nil { // again: nothing changes
		t.Fatal(err)
	}
	select {
	case <-heard:
		t.Error("a revocation that changed nothing was announced")
	case <-time.After(500 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAuth: %v", err)
	}
}
