// Package chaos is opsflow's fault suite. Its tests start the production
// shape as separate OS processes — a file-backed Temporal dev server, a
// private PostgreSQL, two `opsflow worker` and one `opsflow api` — drive
// CAPAs through the HTTP API with clients that retry every request with
// its Idempotency-Key, crash one part at a time under that load, and then
// check that every accepted request took effect exactly once, that every
// audit chain verifies, that no workflow is left with pending work and
// that no client ever saw a 500.
//
//	make chaos                                   # verbose, one line per scenario at the end
//	go test -count=1 -v ./internal/chaos/ -run 'TestChaos/postgres-60s'
//	OPSFLOW_CHAOS_CAPAS=100 OPSFLOW_CHAOS_CLIENTS=8 make chaos
//
// The package has only tests; this file carries its documentation.
package chaos
