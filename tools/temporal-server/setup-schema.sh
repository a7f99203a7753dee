#!/bin/sh
# Creates Temporal's two PostgreSQL databases, if missing, and brings their
# schemas to this server version's with Temporal's own schema tool,
# temporal-sql-tool, built from the same go.temporal.io/server module as
# temporal-server. It runs before the server starts: in docker-compose.yml
# as the one-shot service temporal-schema, in TestProduction as a child.
#
# It reads the same environment as the server's configuration (DB,
# POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, POSTGRES_PWD, DBNAME,
# VISIBILITY_DBNAME), so one block of settings serves both.
#
# Safe to run again, and after an upgrade of the server: create-database
# accepts an existing database, setup-schema -v 0.0 only adds the version
# tables when missing, and update-schema applies only the versions a
# database does not have yet.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS (the PostgreSQL host) is required}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"

export SQL_PLUGIN="${DB:-postgres12}"
export SQL_HOST="$POSTGRES_SEEDS"
export SQL_PORT="${DB_PORT:-5432}"
export SQL_USER="$POSTGRES_USER"
export SQL_PASSWORD="${POSTGRES_PWD:-}"
tool="${TEMPORAL_SQL_TOOL:-temporal-sql-tool}"

setup() { # database, embedded schema name
	echo "setup-schema: $1 ($2)"
	"$tool" --database "$1" create-database --defaultdb postgres
	"$tool" --database "$1" setup-schema -v 0.0
	"$tool" --database "$1" update-schema --schema-name "$2"
}

setup "${DBNAME:-temporal}" postgresql/v12/temporal
setup "${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility
echo "setup-schema: done"
