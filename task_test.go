package opsflow

import (
	"testing"
	"time"
)

func TestTaskTickRemindsThenEscalatesInTiers(t *testing.T) {
	due := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	policy := TaskPolicy{RemindBefore: Duration(24 * time.Hour), Escalation: []EscalationTier{{After: 0, Notify: "owner"}, {After: Duration(72 * time.Hour), Notify: "approver"}, {After: Duration(168 * time.Hour), Notify: "admin"}}}
	steps := []struct {
		at     time.Duration // from due
		kinds  []TaskEventKind
		level  int
		notify string
	}{
		{-48 * time.Hour, nil, 0, ""},
		{-24 * time.Hour, []TaskEventKind{TaskReminded}, 0, ""},
		{-1 * time.Hour, nil, 0, ""},
		{0, []TaskEventKind{TaskEscalated}, 1, "owner"},
		{72 * time.Hour, []TaskEventKind{TaskEscalated}, 2, "approver"},
		{500 * time.Hour, []TaskEventKind{TaskEscalated}, 3, "admin"},
		{900 * time.Hour, nil, 3, "admin"},
	}
	task := Task{ID: "t", Assignee: "alice", State: TaskOpen, DueAt: &due}
	for _, s := range steps {
		evs := task.Tick(due.Add(s.at), policy, true)
		if len(evs) != len(s.kinds) {
			t.Fatalf("at due%+v: events %+v, want kinds %v", s.at, evs, s.kinds)
		}
		for i, e := range evs {
			if e.Kind != s.kinds[i] {
				t.Errorf("at due%+v: event %d is %s, want %s", s.at, i, e.Kind, s.kinds[i])
			}
		}
		if task.EscalationLevel != s.level || (s.notify != "" && task.EscalatedTo != s.notify) {
			t.Errorf("at due%+v: level %d to %q, want %d to %q", s.at, task.EscalationLevel, task.EscalatedTo, s.level, s.notify)
		}
		if next, ok := task.NextDeadline(policy); ok && !next.After(due.Add(s.at)) {
			t.Errorf("at due%+v: next deadline %s is not in the future: a timer loop would spin", s.at, next)
		}
	}
}

func TestTaskTickMissedReminderAndScheduledOpening(t *testing.T) {
	due := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	// Created already past due with no escalation policy: no reminder is
	// sent late, and the deadline does not come back.
	late := Task{ID: "late", State: TaskOpen, DueAt: &due}
	if evs := late.Tick(due.Add(time.Hour), TaskPolicy{RemindBefore: Duration(time.Hour)}, true); len(evs) != 0 {
		t.Errorf("late reminder sent: %+v", evs)
	}
	if _, ok := late.NextDeadline(TaskPolicy{RemindBefore: Duration(time.Hour)}); ok {
		t.Error("a missed reminder still has a deadline")
	}
	open := due.Add(-72 * time.Hour)
	sched := Task{ID: "s", State: TaskScheduled, OpenAt: &open, DueAt: &due}
	if evs := sched.Tick(open, TaskPolicy{}, false); len(evs) != 0 || sched.State != TaskScheduled {
		t.Errorf("opened with dependencies pending: %+v %s", evs, sched.State)
	}
	if evs := sched.Tick(open, TaskPolicy{}, true); len(evs) != 1 || evs[0].Kind != TaskOpened || sched.State != TaskOpen {
		t.Errorf("did not open: %+v %s", evs, sched.State)
	}
}

func TestTaskCheckMove(t *testing.T) {
	cases := []struct {
		from   TaskState
		to     TaskState
		reason string
		code   string
		field  string
	}{
		{TaskOpen, TaskDone, "", "", ""},
		{TaskOpen, TaskInProgress, "", "", ""},
		{TaskInProgress, TaskBlocked, "", EINVALID, "reason"},
		{TaskInProgress, TaskBlocked, "waiting for parts", "", ""},
		{TaskOpen, TaskSkipped, "", EINVALID, "reason"},
		{TaskDone, TaskOpen, "", ECONFLICT, ""},
		{TaskScheduled, TaskDone, "", ECONFLICT, ""},
		{TaskOpen, "finished", "", EINVALID, "state"},
	}
	for _, c := range cases {
		err := Task{ID: "t", State: c.from}.CheckMove(c.to, c.reason)
		if got := ErrorCode(err); got != c.code {
			t.Errorf("%s → %s: code %q, want %q (%v)", c.from, c.to, got, c.code, err)
			continue
		}
		if e, ok := err.(*Error); ok && e.Field != c.field {
			t.Errorf("%s → %s: field %q, want %q", c.from, c.to, e.Field, c.field)
		}
	}
}

func TestTaskCanWork(t *testing.T) {
	alice := Actor{ID: "alice", Roles: []Role{RoleOwner}}
	hana := Actor{ID: "hana", Roles: []Role{RoleHR}}
	root := Actor{ID: "root", Roles: []Role{RoleAdmin}}
	assigned := Task{Assignee: "alice"}
	queued := Task{Role: RoleHR}
	for _, c := range []struct {
		task Task
		who  Actor
		want bool
	}{{assigned, alice, true}, {assigned, hana, false}, {assigned, root, true}, {queued, hana, true}, {queued, alice, false}} {
		if got := c.task.CanWork(c.who); got != c.want {
			t.Errorf("%s on %+v: %v, want %v", c.who.ID, c.task, got, c.want)
		}
	}
}

func TestProgressWeighsDoneAndNeverCountsSkipped(t *testing.T) {
	tasks := []Task{
		{State: TaskDone, Weight: 3},
		{State: TaskOpen, Weight: 1},
		{State: TaskSkipped, Weight: 5}, // not applicable: out of the total, never done
		{State: TaskCancelled, Weight: 5},
		{State: TaskDone, Weight: 0}, // weight 0 counts as 1
	}
	if got := Progress(tasks); got != 80 {
		t.Errorf("progress %v, want 80", got)
	}
	if got := Progress(nil); got != 0 {
		t.Errorf("empty progress %v", got)
	}
}
