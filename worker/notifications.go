package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/notify"
	"github.com/opsflow/opsflow/postgres"
)

// DispatchStore is what the dispatcher reads and writes: the outbox, its
// deliveries and the users' digest times.
type DispatchStore interface {
	ExpandNotifications(ctx context.Context, now time.Time, limit int) (int, error)
	ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]postgres.DeliveryJob, error)
	FinishDelivery(ctx context.Context, id string, o postgres.DeliveryOutcome) error
	ClaimDigests(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]string, error)
	DigestItems(ctx context.Context, user, channel string) ([]postgres.DeliveryJob, error)
	FinishDigest(ctx context.Context, user string, sent, skipped []string, at, next time.Time) error
	FailDigest(ctx context.Context, user string, items []string, msg string, retry time.Time, budget int) error
	GetReport(ctx context.Context, id string) (postgres.StoredReport, error)
}

// Dispatcher delivers the notification outbox: it expands each new row
// into one delivery per person and channel (by their preferences), sends
// the due ones, and sends each person's daily digest at their local hour.
// It runs in every worker, beside the process loops and never inside
// them: a dead mail server delays mail, never a process.
//
// Delivery is at least once. A delivery is claimed (with a lease) before it
// is sent and marked sent after; when the mark fails (the database is
// down) the dispatcher keeps retrying the mark, never the send, so a
// retried delivery does not send a second mail. Only a worker killed
// between the send and the mark sends again when the lease runs out — and
// then with the same Message-ID / notification ID header, which receivers
// use to drop the duplicate.
type Dispatcher struct {
	Store    DispatchStore
	Renderer *notify.Renderer
	// Email sends e-mail; nil when no SMTP server is configured, and then
	// e-mail deliveries are skipped with a note saying so.
	Email notify.Channel
	// HTTP is the client for Slack, Teams and webhook calls (the outbound
	// allowlist lives in its transport); nil: a default client.
	HTTP *http.Client
	Log  *slog.Logger
	// Every is the pause between passes; 2 s if zero.
	Every time.Duration
	// Attempts is the retry budget of a delivery; 8 if zero (about an
	// hour and a half of backoff).
	Attempts int
	// Backoff is the first retry's delay, doubled each attempt up to an
	// hour; 30 s if zero.
	Backoff time.Duration
	// Lease is how long a claimed delivery is this dispatcher's; 2 min if
	// zero. It must outlast a send (the channels time out in 30 s).
	Lease time.Duration
	// Parallel is how many deliveries are sent at once; 4 if zero.
	Parallel int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Run dispatches until ctx ends. A failing pass (the database is down) is
// logged and tried again at the next tick.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := d.Once(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				d.log().WarnContext(ctx, "notification pass failed; retrying", "err", err)
			}
			failing = true
		} else {
			failing = false
		}
		t.Reset(orDefault(d.Every, 2*time.Second))
	}
}

// Once runs one pass: expand, send what is due, send the digests that are
// due. It returns how many messages were sent.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	for {
		n, err := d.Store.ExpandNotifications(ctx, d.now(), 200)
		if err != nil {
			return 0, fmt.Errorf("expand notifications: %w", err)
		}
		if n < 200 {
			break
		}
	}
	sent := 0
	for {
		jobs, err := d.Store.ClaimDeliveries(ctx, d.now(), 50, orDefault(d.Lease, 2*time.Minute))
		if err != nil {
			return sent, fmt.Errorf("claim deliveries: %w", err)
		}
		if len(jobs) == 0 {
			break
		}
		sent += d.sendAll(ctx, jobs)
		if len(jobs) < 50 || ctx.Err() != nil {
			break
		}
	}
	n, err := d.digests(ctx)
	return sent + n, err
}

// sendAll sends jobs a few at a time and records each outcome.
func (d *Dispatcher) sendAll(ctx context.Context, jobs []postgres.DeliveryJob) int {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent int
		sem  = make(chan struct{}, orDefault(d.Parallel, 4))
	)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			o := d.deliver(ctx, j)
			if o.State == opsflow.DeliverySent {
				mu.Lock()
				sent++
				mu.Unlock()
			}
			d.record(ctx, j.ID, o)
		}()
	}
	wg.Wait()
	return sent
}

// record stores an outcome, retrying the write (never the send) until it
// succeeds or the dispatcher stops.
func (d *Dispatcher) record(ctx context.Context, id string, o postgres.DeliveryOutcome) {
	wait := 500 * time.Millisecond
	for {
		err := d.Store.FinishDelivery(ctx, id, o)
		if err == nil {
			return
		}
		d.log().WarnContext(ctx, "recording a delivery failed; retrying the record, not the send", "delivery", id, "state", o.State, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}

// finalTask reports whether a task is finished, so a reminder about it
// would be noise.
func finalTask(s opsflow.TaskState) bool {
	return s == opsflow.TaskDone || s == opsflow.TaskSkipped || s == opsflow.TaskCancelled
}

// deliver renders and sends one delivery and says what became of it.
func (d *Dispatcher) deliver(ctx context.Context, j postgres.DeliveryJob) postgres.DeliveryOutcome {
	now := d.now()
	if j.TaskID != "" && j.Kind != opsflow.NotifyClosed && j.Kind != opsflow.NotifyProvisioningFailed {
		if j.TaskState == "" {
			return postgres.DeliveryOutcome{State: opsflow.DeliverySkipped, Error: "the task no longer exists"}
		}
		if finalTask(j.TaskState) {
			return postgres.DeliveryOutcome{State: opsflow.DeliverySkipped, Error: "the task was " + string(j.TaskState) + " before this went out"}
		}
	}
	if j.TaskID == "" && (j.Kind == opsflow.NotifyAssigned || j.Kind == opsflow.NotifyReminder || j.Kind == opsflow.NotifyOverdue || j.Kind == opsflow.NotifyEscalated) {
		// Written by an older engine that announced work without a task.
		return postgres.DeliveryOutcome{State: opsflow.DeliverySkipped, Error: "a " + j.Kind + " notification without a task cannot be shown"}
	}
	msg := message(j)
	if j.Kind == opsflow.NotifyReport {
		if err := d.attachReport(ctx, &msg, j.ProcessID); err != nil {
			return d.failure(ctx, j.ID, j.Channel, j.Attempts, err, now)
		}
	}
	r, err := d.Renderer.Render(msg)
	if err != nil {
		return postgres.DeliveryOutcome{State: opsflow.DeliveryFailed, Error: err.Error()}
	}
	ch, skip, err := d.channel(j.Channel, j.Profile)
	if skip != "" {
		return postgres.DeliveryOutcome{State: opsflow.DeliverySkipped, Error: skip}
	}
	if err == nil {
		err = ch.Send(ctx, r)
	}
	if err == nil {
		d.log().InfoContext(ctx, "notification sent", "delivery", j.ID, "channel", j.Channel, "kind", j.Kind, "user", j.UserID)
		return postgres.DeliveryOutcome{State: opsflow.DeliverySent, DeliverAt: now}
	}
	return d.failure(ctx, j.ID, j.Channel, j.Attempts, err, now)
}

// failure classifies a failed send: permanent errors and a spent budget
// fail the delivery, anything else is tried again after a backoff.
func (d *Dispatcher) failure(ctx context.Context, id, channel string, attempts int, err error, now time.Time) postgres.DeliveryOutcome {
	budget := orDefault(d.Attempts, 8)
	if notify.IsPermanent(err) || attempts >= budget {
		d.log().WarnContext(ctx, "notification failed; an administrator can retry it", "delivery", id, "channel", channel, "attempts", attempts, "err", err)
		return postgres.DeliveryOutcome{State: opsflow.DeliveryFailed, Error: err.Error()}
	}
	next := now.Add(d.backoff(attempts, notify.RetryAfter(err)))
	d.log().InfoContext(ctx, "notification not sent; will retry", "delivery", id, "channel", channel, "attempts", attempts, "next", next, "err", err)
	return postgres.DeliveryOutcome{State: opsflow.DeliveryPending, Error: err.Error(), Next: next}
}

// backoff is the wait before attempt+1: exponential with jitter, at least
// what the receiver asked for (Retry-After).
func (d *Dispatcher) backoff(attempts int, asked time.Duration) time.Duration {
	base := orDefault(d.Backoff, 30*time.Second)
	w := base << min(max(attempts-1, 0), 10)
	w = min(w, time.Hour)
	w += time.Duration(rand.Int64N(int64(w)/5 + 1))
	return max(w, asked)
}

// channel returns the sender for a channel and a person. A skip reason
// says the message cannot go out there at all (no SMTP server).
func (d *Dispatcher) channel(name string, p opsflow.Profile) (notify.Channel, string, error) {
	switch name {
	case opsflow.ChannelEmail:
		if d.Email == nil {
			return nil, "no SMTP server is configured (OPSFLOW_SMTP_HOST)", nil
		}
		if p.Email == "" {
			return nil, "the person has no e-mail address", nil
		}
		return d.Email, "", nil
	case opsflow.ChannelSlack:
		s, err := notify.NewSlack(notify.SlackConfig{URL: p.Preferences.SlackWebhook, Client: d.HTTP})
		return s, "", permanentIfInvalid(err)
	case opsflow.ChannelTeams:
		t, err := notify.NewTeams(notify.TeamsConfig{URL: p.Preferences.TeamsWebhook, Client: d.HTTP})
		return t, "", permanentIfInvalid(err)
	case opsflow.ChannelWebhook:
		w, err := notify.NewWebhook(notify.WebhookConfig{URL: p.Preferences.WebhookURL, Secret: []byte(p.Preferences.WebhookSecret), Client: d.HTTP})
		return w, "", permanentIfInvalid(err)
	}
	return nil, "", permanentIfInvalid(fmt.Errorf("unknown channel %q", name))
}

// permanentIfInvalid marks a configuration error (a bad URL, no secret):
// retrying the same address cannot help.
func permanentIfInvalid(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", notify.ErrInvalidMessage, err)
}

// message builds what the templates need from a claimed delivery. Its ID
// is the delivery's: each person's copy on each channel is its own
// message, with a Message-ID of its own that stays the same on a re-send.
func message(j postgres.DeliveryJob) notify.Message {
	m := notify.Message{
		ID: j.ID, Kind: notify.Kind(j.Kind), At: j.At,
		Recipient: recipient(j.Profile),
		Process:   notify.Process{Kind: j.ProcessKind, ID: j.ProcessID, Title: j.ProcessTitle},
		Reason:    j.Reason,
	}
	if j.TaskID != "" && j.TaskState != "" {
		t := task(j)
		m.Task = &t
	}
	return m
}

// attachReport makes msg the monthly report's: its ID and period as the
// "process", its PDF attached.
func (d *Dispatcher) attachReport(ctx context.Context, msg *notify.Message, stream string) error {
	id := strings.TrimPrefix(stream, "report/")
	rep, err := d.Store.GetReport(ctx, id)
	if err != nil {
		if opsflow.ErrorCode(err) == opsflow.ENOTFOUND {
			return fmt.Errorf("%w: report %s: %w", notify.ErrInvalidMessage, id, err)
		}
		return fmt.Errorf("read report %s: %w", id, err)
	}
	msg.Process = notify.Process{Kind: notify.KindReportProcess, ID: id, Title: "KPIs of " + rep.Period}
	msg.Attachments = []notify.Attachment{{Name: "opsflow-kpi-report-" + rep.Period + ".pdf", ContentType: "application/pdf", Data: rep.PDF}}
	return nil
}

func recipient(p opsflow.Profile) notify.Recipient {
	return notify.Recipient{ID: p.ID, Name: p.Name, Email: p.Email, TimeZone: p.Timezone}
}

func task(j postgres.DeliveryJob) notify.Task {
	t := notify.Task{ID: j.TaskID, Title: j.TaskTitle, Assignee: j.TaskAssignee, EscalationLevel: max(j.Level, j.TaskLevel)}
	if j.TaskDue != nil {
		t.DueAt = *j.TaskDue
	}
	return t
}

// digests sends the daily digests that are due.
func (d *Dispatcher) digests(ctx context.Context) (int, error) {
	users, err := d.Store.ClaimDigests(ctx, d.now(), 20, orDefault(d.Lease, 2*time.Minute))
	if err != nil {
		return 0, fmt.Errorf("claim digests: %w", err)
	}
	sent := 0
	var errs []error
	for _, u := range users {
		n, err := d.digest(ctx, u)
		sent += n
		errs = append(errs, err)
	}
	return sent, errors.Join(errs...)
}

// digest sends one person's digest on each channel that holds items for
// it: one message listing overdue, due-soon and new tasks across every
// process, each task once, in its current state. A task finished since
// is left out (and its items marked skipped). Only items held for the
// digest are in it, so nothing already sent at once is repeated.
func (d *Dispatcher) digest(ctx context.Context, user string) (int, error) {
	now := d.now()
	sent := 0
	var next time.Time
	var sentIDs, skipped []string
	var failed []failedDigest
	for _, ch := range []string{opsflow.ChannelEmail, opsflow.ChannelSlack, opsflow.ChannelTeams, opsflow.ChannelWebhook} {
		items, err := d.Store.DigestItems(ctx, user, ch)
		if err != nil {
			return sent, err
		}
		if len(items) == 0 {
			continue
		}
		prof := items[0].Profile
		loc, err := time.LoadLocation(prof.Timezone)
		if err != nil {
			loc = time.UTC
		}
		next = opsflow.NextDigest(now, prof.Preferences.Hour(), loc)
		dg, in, out := digestOf(items, now, next)
		skipped = append(skipped, out...)
		if dg.Empty() {
			continue
		}
		msg := notify.Message{
			ID:   "digest-" + now.In(loc).Format("2006-01-02") + "-" + user + "-" + ch,
			Kind: notify.KindDigest, At: now, Recipient: recipient(prof), Digest: dg,
		}
		if err := d.sendDigest(ctx, ch, prof, msg); err != nil {
			attempts := 0
			for _, j := range items {
				attempts = max(attempts, j.Attempts+1)
			}
			o := d.failure(ctx, msg.ID, ch, attempts, err, now)
			retry := o.Next
			if o.State == opsflow.DeliveryFailed {
				retry = next
			}
			failed = append(failed, failedDigest{in, err.Error(), retry})
			continue
		}
		sent++
		sentIDs = append(sentIDs, in...)
		d.log().InfoContext(ctx, "digest sent", "user", user, "channel", ch, "items", len(in))
	}
	if next.IsZero() {
		return sent, nil
	}
	if err := d.finishDigest(ctx, user, sentIDs, skipped, now, next); err != nil {
		return sent, err
	}
	// A channel that failed is tried again sooner than tomorrow.
	for _, f := range failed {
		if err := d.Store.FailDigest(ctx, user, f.items, f.err, f.retry, orDefault(d.Attempts, 8)); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

type failedDigest struct {
	items []string
	err   string
	retry time.Time
}

func (d *Dispatcher) sendDigest(ctx context.Context, ch string, prof opsflow.Profile, msg notify.Message) error {
	r, err := d.Renderer.Render(msg)
	if err != nil {
		return err
	}
	c, skip, err := d.channel(ch, prof)
	if skip != "" {
		return fmt.Errorf("%w: %s", notify.ErrInvalidMessage, skip)
	}
	if err != nil {
		return err
	}
	return c.Send(ctx, r)
}

// finishDigest records a sent digest, retrying the write (not the send).
func (d *Dispatcher) finishDigest(ctx context.Context, user string, sent, skipped []string, at, next time.Time) error {
	wait := 500 * time.Millisecond
	for {
		err := d.Store.FinishDigest(ctx, user, sent, skipped, at, next)
		if err == nil || ctx.Err() != nil {
			return err
		}
		d.log().WarnContext(ctx, "recording a digest failed; retrying the record, not the send", "user", user, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
	}
}

// digestOf sorts a person's held items into a digest: each open task once,
// overdue if past due, due soon if due before the next digest, new
// otherwise. It returns the items it covers and those it leaves out.
func digestOf(items []postgres.DeliveryJob, now, next time.Time) (*notify.Digest, []string, []string) {
	dg := &notify.Digest{}
	var in, out []string
	seen := map[string]bool{}
	for _, j := range items {
		if j.TaskState == "" || finalTask(j.TaskState) {
			out = append(out, j.ID)
			continue
		}
		in = append(in, j.ID)
		key := j.ProcessID + "\x00" + j.TaskID
		if seen[key] {
			continue
		}
		seen[key] = true
		it := notify.DigestItem{Process: notify.Process{Kind: j.ProcessKind, ID: j.ProcessID, Title: j.ProcessTitle}, Task: task(j)}
		switch {
		case j.TaskDue != nil && j.TaskDue.Before(now):
			dg.Overdue = append(dg.Overdue, it)
		case j.TaskDue != nil && j.TaskDue.Before(next):
			dg.DueSoon = append(dg.DueSoon, it)
		default:
			dg.New = append(dg.New, it)
		}
	}
	slices.Sort(out)
	return dg, in, out
}
