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

	ReadAllStaff       string
	SigningMaxFailures string
	SigningLockout     string
	RateLimitWrites    string
	RateLimitExports   string
	OIDCIssuer         string
	OIDCClientID       string
	OIDCClientSecret   string
	OIDCAudience       string
	OIDCScopes         string
	OIDCUserClaim      string
	OIDCRolesClaim     string
	OIDCRoleMap        string
	OIDCRedirectURL    string
	OIDCCookieKey      string

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
	{"read-all-staff", "OPSFLOW_READ_ALL_STAFF", "kaizen", "api: process kinds every user may read, comma-separated (capa, kaizen, onboarding) or none; the others are read by their participants and the roles that read every record (README: Security)", func(c *Config) *string { return &c.ReadAllStaff }},
	{"signing-max-failures", "OPSFLOW_SIGNING_MAX_FAILURES", "5", "api: wrong signing passwords in a row that lock a user's signing (Part 11); each is recorded on the user's audit stream", func(c *Config) *string { return &c.SigningMaxFailures }},
	{"signing-lockout", "OPSFLOW_SIGNING_LOCKOUT", "15m", "api: how long signing stays locked after too many wrong signing passwords (an admin can unlock sooner)", func(c *Config) *string { return &c.SigningLockout }},
	{"rate-limit-writes", "OPSFLOW_RATE_LIMIT_WRITES", "1200/m:100", "api: writes (POST, PUT) per credential: N/s, N/m or N/h with an optional :burst, or off; over it, 429 with Retry-After", func(c *Config) *string { return &c.RateLimitWrites }},
	{"rate-limit-exports", "OPSFLOW_RATE_LIMIT_EXPORTS", "60/h:10", "api: exports (inspection packs, CSV) per credential, as rate-limit-writes", func(c *Config) *string { return &c.RateLimitExports }},
	{"oidc-issuer", "OPSFLOW_OIDC_ISSUER", "", "api: OpenID Connect issuer URL for single sign-on (empty: off); JWT bearer tokens it signs are accepted", func(c *Config) *string { return &c.OIDCIssuer }},
	{"oidc-client-id", "OPSFLOW_OIDC_CLIENT_ID", "", "api: opsflow's client ID at the issuer (the browser login; ID tokens' audience)", func(c *Config) *string { return &c.OIDCClientID }},
	{"oidc-client-secret", "OPSFLOW_OIDC_CLIENT_SECRET", "", "api: opsflow's client secret at the issuer (prefer the environment variable)", func(c *Config) *string { return &c.OIDCClientSecret }},
	{"oidc-audience", "OPSFLOW_OIDC_AUDIENCE", "", "api: audience API bearer tokens must name (default: the client ID)", func(c *Config) *string { return &c.OIDCAudience }},
	{"oidc-scopes", "OPSFLOW_OIDC_SCOPES", "openid profile email", "api: scopes asked for at the browser login, space-separated", func(c *Config) *string { return &c.OIDCScopes }},
	{"oidc-user-claim", "OPSFLOW_OIDC_USER_CLAIM", "preferred_username", "api: claim that is the opsflow user ID (reserved IDs are refused)", func(c *Config) *string { return &c.OIDCUserClaim }},
	{"oidc-roles-claim", "OPSFLOW_OIDC_ROLES_CLAIM", "roles", "api: claim holding the person's groups or roles (a string or a list)", func(c *Config) *string { return &c.OIDCRolesClaim }},
	{"oidc-role-map", "OPSFLOW_OIDC_ROLE_MAP", "", "api: claim values to opsflow roles, e.g. \"quality=owner,requester; qa-leads=approver; it-ops=admin\"; a person with no mapped role is refused", func(c *Config) *string { return &c.OIDCRoleMap }},
	{"oidc-redirect-url", "OPSFLOW_OIDC_REDIRECT_URL", "", "api: the login's callback as registered at the issuer (default: public-url + /auth/callback)", func(c *Config) *string { return &c.OIDCRedirectURL }},
	{"oidc-cookie-key", "OPSFLOW_OIDC_COOKIE_KEY", "", "api: 64 hex digits sealing the login's state cookie, the same on every API instance (empty: a random key per process)", func(c *Config) *string { return &c.OIDCCookieKey }},
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
