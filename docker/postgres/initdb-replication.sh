#!/usr/bin/env bash
# Mounted into the primary's /docker-entrypoint-initdb.d: runs once, when the postgres image
# initialises an empty data folder. Creates the role the hot standby (postgres-standby) streams
# WAL as, and lets it connect for replication from the compose network (the image's own
# pg_hba.conf line `host all all all …` does not cover the `replication` pseudo-database).
# docs/OPERATIONS.md, "Hot standby".
set -euo pipefail

: "${REPLICATION_USER:?set REPLICATION_USER}"
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set role="$REPLICATION_USER" --set password="$REPLICATION_PASSWORD" <<'SQL'
select format('create role %I with replication login password %L', :'role', :'password')
\gexec
SQL

# samenet: any address on a subnet this server is on, i.e. the compose network
echo "host replication ${REPLICATION_USER} samenet scram-sha-256" >>"$PGDATA/pg_hba.conf"
