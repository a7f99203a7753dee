// Package deploy is opsflow's production configuration of Temporal as it
// has been run and checked, in one place: the multi-process test
// (internal/chaos, TestProduction) starts Temporal with exactly these
// values, tools/temporal-server pins the server version, and
// internal/composecheck fails when docker-compose.yml says anything else.
// Change a value here and the test, the build and the compose check follow
// it, or fail.
package deploy

import "time"

// TemporalServerVersion is the Temporal server release opsflow runs in
// production: tools/temporal-server/go.mod requires go.temporal.io/server at
// "v" + this (a test checks), and the server reports it in GetClusterInfo
// (TestProduction checks). v1.32.1 is the newest that builds with this
// repository's Go 1.26.8 (v1.32.2 needs a newer Go).
const TemporalServerVersion = "1.32.1"

// PersistencePlugin is the SQL plugin of both Temporal stores (the
// server's DB setting): PostgreSQL 12 or newer through lib/pq.
const PersistencePlugin = "postgres12"

// Temporal's two databases, beside opsflow's own on the same PostgreSQL
// server. Both are backed up with opsflow's (README, "Backup and restore").
const (
	TemporalDatabase   = "temporal"
	VisibilityDatabase = "temporal_visibility"
	// Database is opsflow's own: the read model and the audit trail.
	Database = "opsflow"
)

// Schema names in the server module's embedded schema tree, for
// temporal-sql-tool update-schema --schema-name.
const (
	TemporalSchema   = "postgresql/v12/temporal"
	VisibilitySchema = "postgresql/v12/visibility"
)

// HistoryShards is the number of history shards. It is fixed when the
// cluster is first started and can never change afterwards (a different
// count needs a new cluster), so it is chosen for the largest load
// expected, not today's: every shard costs some polling when idle, and 4
// carried the measured load on two cores (README, "Sizing") with room to
// grow to several times that on more cores.
const HistoryShards = 4

// Namespace is opsflow's Temporal namespace in production. It is not
// "default", which a fresh Temporal server does not even have.
const Namespace = "opsflow"

// Retention is how long Temporal keeps a closed process's history. Set
// explicitly (Temporal's own default for a new namespace is shorter) and
// kept short on purpose: what an auditor and a user read — the record, its
// tasks and the hash-chained audit trail — lives in PostgreSQL forever and
// never needs Temporal's history (TestProduction deletes a history and
// reads everything back). A month of history is for engineers replaying
// an incident.
const Retention = 30 * 24 * time.Hour

// SearchAttributes are registered on the namespace before any worker
// starts (name → indexed type): a workflow that upserts an unregistered
// attribute retries its task forever. The SQL visibility store allows few
// custom attributes, so lists and filters come from PostgreSQL instead.
var SearchAttributes = map[string]string{"OpsflowKind": "Keyword"}

// TemporalHealthPath is what the Temporal container's health check asks of
// the frontend's HTTP API (GetClusterInfo: the frontend runs and reads its
// persistence). The image has busybox wget, not a Temporal CLI.
const TemporalHealthPath = "/api/v1/cluster-info"
