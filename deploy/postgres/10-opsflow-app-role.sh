#!/bin/sh
# Runs once, when the postgres container initialises its data volume: it
# creates the role opsflow's API and worker connect as. That role owns
# nothing; `opsflow migrate` (as the owner) grants it what it needs and no
# more — in particular no UPDATE, DELETE or TRUNCATE on the audit trail.
# A volume initialised before this script existed lacks the role: create
# it by hand with the same statement.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="${OPSFLOW_APP_PASSWORD:-opsflow-app}" <<'SQL'
CREATE ROLE opsflow_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
SQL
