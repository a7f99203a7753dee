// Package config is the one place that names opsflow's settings: each is a
// command-line flag with an environment variable behind it, so the same
// binary runs from a shell, systemd or docker-compose.
package config

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/opsflow/opsflow/internal/deploy"
)

// Config holds every setting of every subcommand; each subcommand registers
// only the ones it reads.
type Config struct {
	DatabaseURL        string
	MigrateDatabaseURL string
	TemporalAddress    string
	TemporalNamespace  string
	TaskQueue          string
	HTTPAddr           string
	LogLevel           string
	StateDir           string
	Day                string
	WorkflowCache      string

	CheckpointKey       string
	CheckpointPublicKey string
	CheckpointDir       string
	CheckpointWebhook   string
	CheckpointInterval  string
	OutboundAllow       string

	PublicURL    string
	SMTPHost     string
	SMTPPort     string
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string
	SMTPTLS      string

	TemporalRetention string
	MetricsAddr       string
	OTLPEndpoint      string
}

// Setting describes one setting: its flag, its environment variable, its
// default and its help text.
type Setting struct {
	Flag    string
	Env     string
	Default string
	Usage   string
	field   func(*Config) *string
}

// Settings lists every setting. docker-compose.yml and the README are
// checked against it by tests.
var Settings = []Setting{
	{"database-url", "DATABASE_URL", "", "PostgreSQL URL of the application's role, which owns nothing (postgres://user:pass@host:5432/db?sslmode=disable); opsflow dev starts a private PostgreSQL when empty", func(c *Config) *string { return &c.DatabaseURL }},
	{"migrate-database-url", "MIGRATE_DATABASE_URL", "", "PostgreSQL URL of the schema owner's role, for the migrations; when empty they run on DATABASE_URL, one role for all, which can then rewrite the audit trail", func(c *Config) *string { return &c.MigrateDatabaseURL }},
	{"temporal-address", "TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend host:port", func(c *Config) *string { return &c.TemporalAddress }},
	{"temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace", func(c *Config) *string { return &c.TemporalNamespace }},
	{"task-queue", "OPSFLOW_TASK_QUEUE", "opsflow", "Temporal task queue the worker polls and the API starts workflows on", func(c *Config) *string { return &c.TaskQueue }},
	{"http-addr", "OPSFLOW_HTTP_ADDR", ":8080", "address the HTTP API listens on", func(c *Config) *string { return &c.HTTPAddr }},
	{"log-level", "OPSFLOW_LOG_LEVEL", "info", "log level: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }},
	{"day", "OPSFLOW_DAY", "24h", "length of a day in process timers (due dates, windows, offsets); shorten only for demos", func(c *Config) *string { return &c.Day }},
	{"workflow-cache", "OPSFLOW_WORKFLOW_CACHE", "2000", "workflows a worker keeps in memory between tasks (each holds its record: tens of KB)", func(c *Config) *string { return &c.WorkflowCache }},
	{"checkpoint-key", "OPSFLOW_CHECKPOINT_KEY", "", "worker: Ed25519 private key (PEM file, kept outside the database) that signs audit checkpoints; see 'opsflow checkpoint keygen'", func(c *Config) *string { return &c.CheckpointKey }},
	{"checkpoint-public-key", "OPSFLOW_CHECKPOINT_PUBLIC_KEY", "", "api, audit verify: public key (PEM file) that checks the checkpoints", func(c *Config) *string { return &c.CheckpointPublicKey }},
	{"checkpoint-dir", "OPSFLOW_CHECKPOINT_DIR", "", "directory the worker publishes checkpoints to, one file each, never overwritten (keep it on append-only storage); the API verifies against it", func(c *Config) *string { return &c.CheckpointDir }},
	{"checkpoint-webhook", "OPSFLOW_CHECKPOINT_WEBHOOK", "", "worker: URL each checkpoint is also POSTed to (an append-only receiver)", func(c *Config) *string { return &c.CheckpointWebhook }},
	{"checkpoint-interval", "OPSFLOW_CHECKPOINT_INTERVAL", "5m", "worker: how often heads that moved are signed (and once more at shutdown)", func(c *Config) *string { return &c.CheckpointInterval }},
	{"outbound-allow", "OPSFLOW_OUTBOUND_ALLOW", "", "worker: hosts webhooks may call, comma-separated: host, host:port, *.domain, IP or CIDR; private, loopback and link-local addresses only when listed as an IP or CIDR; empty: none", func(c *Config) *string { return &c.OutboundAllow }},
	{"public-url", "OPSFLOW_PUBLIC_URL", "http://localhost:8080", "address people reach opsflow at: the base of every link in notifications", func(c *Config) *string { return &c.PublicURL }},
	{"smtp-host", "OPSFLOW_SMTP_HOST", "", "SMTP server for e-mail notifications (empty: no e-mail; opsflow dev runs a mail catcher)", func(c *Config) *string { return &c.SMTPHost }},
	{"smtp-port", "OPSFLOW_SMTP_PORT", "", "SMTP port (empty: 465 with smtp-tls=tls, else 587)", func(c *Config) *string { return &c.SMTPPort }},
	{"smtp-username", "OPSFLOW_SMTP_USERNAME", "", "SMTP user name (empty: no authentication)", func(c *Config) *string { return &c.SMTPUsername }},
	{"smtp-password", "OPSFLOW_SMTP_PASSWORD", "", "SMTP password (prefer the environment variable to the flag)", func(c *Config) *string { return &c.SMTPPassword }},
	{"smtp-from", "OPSFLOW_SMTP_FROM", "opsflow@localhost", "sender address of notification mail", func(c *Config) *string { return &c.SMTPFrom }},
	{"smtp-tls", "OPSFLOW_SMTP_TLS", "starttls", "SMTP TLS: starttls (required), opportunistic, tls (implicit, port 465) or none", func(c *Config) *string { return &c.SMTPTLS }},
	{"temporal-retention", "OPSFLOW_TEMPORAL_RETENTION", deploy.Retention.String(), "opsflow temporal-setup: how long Temporal keeps a closed process's history (records and audit trails stay in PostgreSQL)", func(c *Config) *string { return &c.TemporalRetention }},
	{"metrics-addr", "OPSFLOW_METRICS_ADDR", "", "address of the Prometheus endpoint (/metrics), separate from the API; empty: off", func(c *Config) *string { return &c.MetricsAddr }},
	{"otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OpenTelemetry collector base URL (OTLP over HTTP, e.g. http://otel-collector:4318) to send traces to; empty: tracing off", func(c *Config) *string { return &c.OTLPEndpoint }},
	{"state-dir", "OPSFLOW_STATE_DIR", ".opsflow", "opsflow dev: folder for the private PostgreSQL and Temporal databases", func(c *Config) *string { return &c.StateDir }},
}

// Default returns the default value of the setting with flag name.
func Default(flag string) string {
	for _, s := range Settings {
		if s.Flag == flag {
			return s.Default
		}
	}
	return ""
}

// Register adds the named settings (by flag name) to fs, bound to c.
func (c *Config) Register(fs *flag.FlagSet, flags ...string) {
	for _, s := range Settings {
		for _, f := range flags {
			if s.Flag == f {
				fs.StringVar(s.field(c), s.Flag, s.Default, fmt.Sprintf("%s (env %s)", s.Usage, s.Env))
			}
		}
	}
}

// Parse parses args into fs, then fills every flag not given on the command
// line from its environment variable. Flags win over the environment.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range Settings {
		if fs.Lookup(s.Flag) == nil || given[s.Flag] {
			continue
		}
		if v, ok := os.LookupEnv(s.Env); ok {
			if err := fs.Set(s.Flag, v); err != nil {
				return fmt.Errorf("%s: %w", s.Env, err)
			}
		}
	}
	return nil
}

// Logger returns a JSON slog logger at the configured level.
func (c *Config) Logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(c.LogLevel))); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}
