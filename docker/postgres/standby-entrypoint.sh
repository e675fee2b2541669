#!/usr/bin/env bash
# The postgres-standby service's entrypoint (docker-compose.yml): on an empty data folder, clone
# the primary with pg_basebackup -R (which writes standby.signal and primary_conninfo), then
# hand over to the image's own entrypoint, which finds an initialised folder and starts
# PostgreSQL — as a hot standby, streaming from the primary. docs/OPERATIONS.md, "Hot standby".
set -euo pipefail

: "${PGDATA:?the postgres image sets PGDATA}"
: "${PRIMARY_HOST:?set PRIMARY_HOST}"
: "${REPLICATION_USER:?set REPLICATION_USER}"
: "${REPLICATION_PASSWORD:?set REPLICATION_PASSWORD}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
STANDBY_NAME="${STANDBY_NAME:-standby}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do
    echo "standby: waiting for the primary at $PRIMARY_HOST:$PRIMARY_PORT"
    sleep 2
  done
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  echo "standby: cloning the primary (pg_basebackup -R) into $PGDATA"
  # application_name is the name synchronous_standby_names and pg_stat_replication use
  PGPASSWORD="$REPLICATION_PASSWORD" gosu postgres pg_basebackup \
    --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream --checkpoint=fast --progress \
    --dbname="host=$PRIMARY_HOST port=$PRIMARY_PORT user=$REPLICATION_USER application_name=$STANDBY_NAME"
fi

exec docker-entrypoint.sh "$@"
