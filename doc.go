// Package opsflow holds the domain of the opsflow workflow engine: the
// states, records and pure rules of its processes (CAPA, Kaizen, onboarding),
// the shared task model and the audit-event chain. It depends on the
// standard library only; Temporal, SQL and HTTP live in their own packages.
package opsflow
