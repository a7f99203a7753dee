package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/opsflow/opsflow"
)

// A retried snapshot must not queue a reminder twice: notifications are
// keyed by the audit event that caused them.
func TestNotificationsQueuedOnce(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	s := snapshot("capa-notify-1", 1, "containment")
	s.Notify = []opsflow.Notification{
		{ID: "capa-notify-1/3:bob", ProcessID: "capa-notify-1", TaskID: "t1", To: "bob", Subject: "task.reminded: contain", At: at},
		{ID: "capa-notify-1/4:approver", ProcessID: "capa-notify-1", TaskID: "t1", To: "approver", Subject: "task.escalated: contain", At: at.Add(time.Hour)},
	}
	for range 3 {
		if err := testDB.SaveSnapshot(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := testDB.Notifications(ctx, "bob", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Subject != "task.reminded: contain" || !got[0].At.Equal(at) {
		t.Fatalf("bob's notifications: %+v", got)
	}
	all, err := testDB.Notifications(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, x := range all {
		if x.ProcessID == "capa-notify-1" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d notifications for the process after three saves, want 2", n)
	}
}
