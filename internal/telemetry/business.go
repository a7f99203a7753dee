package telemetry

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/opsflow/opsflow"
	"github.com/opsflow/opsflow/postgres"
)

// StatsSource reads the read model's counts; *postgres.DB is one.
type StatsSource interface {
	Stats(ctx context.Context, now time.Time) (postgres.Stats, error)
}

// Business is a Prometheus collector of what the processes are doing, read
// from PostgreSQL and Temporal when scraped and cached for CacheFor, so
// several Prometheus servers or a dashboard refresh cost one set of
// queries. A failed read serves the last good values with
// opsflow_stats_up{source} at 0, never an empty scrape.
type Business struct {
	Store     StatsSource
	Temporal  client.Client // nil: no poller gauges
	TaskQueue string
	CacheFor  time.Duration // default 10 s
	Logger    *slog.Logger

	mu      sync.Mutex
	at      time.Time
	stats   postgres.Stats
	statsOK bool
	pollers map[string]int // task queue type → live pollers
	tempOK  bool
}

// kinds are served even at zero, so a dashboard shows 0 rather than "no
// data" and an alert on a kind's gauge has a series to evaluate.
var kinds = []opsflow.Kind{opsflow.KindCAPA, opsflow.KindKaizen, opsflow.KindOnboarding}

var (
	descOpen = prometheus.NewDesc("opsflow_processes_open",
		"Processes not closed, by kind and state (read model).", []string{"kind", "state"}, nil)
	descStalled = prometheus.NewDesc("opsflow_processes_stalled",
		"Processes stalled because the store refused their changes for good; each needs an administrator (retry or abandon).", []string{"kind"}, nil)
	descOverdue = prometheus.NewDesc("opsflow_tasks_overdue",
		"Active tasks past their due date, by process kind.", []string{"kind"}, nil)
	descUnsent = prometheus.NewDesc("opsflow_notifications_unsent",
		"Notifications due and not sent (the outbox backlog).", nil, nil)
	descUnsentAge = prometheus.NewDesc("opsflow_notifications_oldest_unsent_age_seconds",
		"Age of the oldest notification due and not sent; 0 when there is none.", nil, nil)
	descFailed = prometheus.NewDesc("opsflow_notifications_failed",
		"Notifications whose delivery gave up after its retries. Always 0 while the outbox does not record failures (opsflow_notifications_failure_tracked 0).", nil, nil)
	descFailureTracked = prometheus.NewDesc("opsflow_notifications_failure_tracked",
		"1 when the notification outbox records delivery failures (its schema has failed_at), else 0.", nil, nil)
	descCheckpointAge = prometheus.NewDesc("opsflow_audit_checkpoint_age_seconds",
		"Age of the newest signed audit checkpoint; served once the schema has checkpoints.", nil, nil)
	descPollers = prometheus.NewDesc("opsflow_task_queue_pollers",
		"Workers Temporal saw polling opsflow's task queue in the last 90 s, by task type; 0 means no worker runs.", []string{"task_queue", "type"}, nil)
	descUp = prometheus.NewDesc("opsflow_stats_up",
		"1 when the last read of the gauges' source succeeded, else 0 (the gauges then hold the last good values).", []string{"source"}, nil)
)

// Describe sends every descriptor.
func (b *Business) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOpen, descStalled, descOverdue, descUnsent, descUnsentAge, descFailed,
		descFailureTracked, descCheckpointAge, descPollers, descUp} {
		ch <- d
	}
}

// Collect refreshes the cache if it is stale and sends the gauges.
func (b *Business) Collect(ch chan<- prometheus.Metric) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	ttl := b.CacheFor
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	if b.at.IsZero() || now.Sub(b.at) >= ttl {
		b.refresh(now)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, o := range b.stats.Open {
		gauge(descOpen, float64(o.N), string(o.Kind), o.State)
	}
	for _, k := range allKinds(b.stats.Stalled, b.stats.OverdueTasks) {
		gauge(descStalled, float64(b.stats.Stalled[k]), string(k))
		gauge(descOverdue, float64(b.stats.OverdueTasks[k]), string(k))
	}
	gauge(descUnsent, float64(b.stats.Unsent))
	age := 0.0
	if b.stats.OldestUnsent != nil {
		age = max(0, now.Sub(*b.stats.OldestUnsent).Seconds())
	}
	gauge(descUnsentAge, age)
	gauge(descFailed, float64(b.stats.Failed))
	gauge(descFailureTracked, boolFloat(b.stats.FailureTracked))
	if b.stats.LastCheckpoint != nil {
		gauge(descCheckpointAge, max(0, now.Sub(*b.stats.LastCheckpoint).Seconds()))
	}
	gauge(descUp, boolFloat(b.statsOK), "postgres")
	if b.Temporal != nil {
		for _, typ := range []string{"workflow", "activity"} {
			gauge(descPollers, float64(b.pollers[typ]), b.TaskQueue, typ)
		}
		gauge(descUp, boolFloat(b.tempOK), "temporal")
	}
}

// refresh reads both sources, each bounded, keeping the last good values
// of a source that fails.
func (b *Business) refresh(now time.Time) {
	b.at = now
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := b.Store.Stats(ctx, now)
	if b.statsOK = err == nil; b.statsOK {
		b.stats = st
	} else {
		log.Warn("metrics: read model stats", "err", err)
	}
	if b.Temporal == nil {
		return
	}
	pollers := map[string]int{}
	b.tempOK = true
	for typ, tqt := range map[string]enumspb.TaskQueueType{"workflow": enumspb.TASK_QUEUE_TYPE_WORKFLOW, "activity": enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		res, err := b.Temporal.DescribeTaskQueue(ctx, b.TaskQueue, tqt)
		if err != nil {
			b.tempOK = false
			log.Warn("metrics: describe task queue", "task_queue", b.TaskQueue, "type", typ, "err", err)
			continue
		}
		for _, p := range res.GetPollers() {
			// The server remembers a dead poller for minutes; a live one
			// polls at least every minute (as the API's /readyz counts).
			if t := p.GetLastAccessTime(); t != nil && now.Sub(t.AsTime()) < 90*time.Second {
				pollers[typ]++
			}
		}
	}
	if b.tempOK {
		b.pollers = pollers
	}
}

// allKinds is kinds plus any other kind the maps hold, sorted.
func allKinds(ms ...map[opsflow.Kind]int) []opsflow.Kind {
	set := map[opsflow.Kind]bool{}
	for _, k := range kinds {
		set[k] = true
	}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
