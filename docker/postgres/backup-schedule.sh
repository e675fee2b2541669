#!/bin/sh
# The `backup` service of docker-compose.yml (docs/OPERATIONS.md): pgBackRest backups on a
# schedule, each followed by `pgbackrest verify`, all in UTC:
#   - at start: the stanza (created once; a no-op afterwards), `check` (WAL reaches the
#     repository), then a differential backup — a full one when the repository has none yet;
#   - every day at BACKUP_HOUR:00: a differential backup, a full one on BACKUP_FULL_WEEKDAY
#     (1 = Monday … 7 = Sunday);
#   - expiry by the retention settings of pgbackrest.conf runs after every backup.
# `backup-schedule health` (the healthcheck) fails unless a backup and its verify succeeded in
# the last 26 hours. A failed backup is logged and retried at the next slot; the container stays
# up (and turns unhealthy) so that `docker compose ps` and monitoring show it.
set -eu

STANZA=mking
HOUR=${BACKUP_HOUR:-01}
FULL_WEEKDAY=${BACKUP_FULL_WEEKDAY:-7}
# written after each backup that verified; the healthcheck reads its age
OK_FILE=/tmp/pgbackrest/last-backup-ok
MAX_AGE_MINUTES=1560

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) backup-schedule: $*"; }

if [ "${1:-}" = health ]; then
  [ -n "$(find "$OK_FILE" -mmin -"$MAX_AGE_MINUTES" 2>/dev/null)" ]
  exit
fi

: "${PGBACKREST_REPO1_CIPHER_PASS:?the repository's cipher pass must be in the environment}"

backup() {
  log "starting a $1 backup"
  if pgbackrest --stanza="$STANZA" --type="$1" backup && pgbackrest --stanza="$STANZA" verify; then
    touch "$OK_FILE"
    log "$1 backup done and verified"
    pgbackrest --stanza="$STANZA" info || true
  else
    log "ERROR: the $1 backup or its verify failed (see above); next try at $HOUR:00 UTC"
  fi
}

# seconds from now until the next HOUR:00 UTC
seconds_to_next_slot() {
  now=$(date -u +%s)
  next=$(date -u -d "today $HOUR:00" +%s)
  [ "$next" -gt "$now" ] || next=$(date -u -d "tomorrow $HOUR:00" +%s)
  echo $((next - now))
}

# as PID 1 the shell ignores SIGTERM unless it traps it: `docker compose stop` then ends the
# wait at once (a backup under way finishes its current command first)
trap 'log "stopping"; exit 0' TERM INT

pgbackrest --stanza="$STANZA" stanza-create
# WAL written before the stanza existed (the image's first start) failed to archive, and the
# server retries only every minute: wait until a segment reaches the repository
until pgbackrest --stanza="$STANZA" check; do
  log "WAL does not reach the repository yet (see above); checking again in 30 s"
  sleep 30 &
  wait $! || true
done
# pgBackRest turns a differential backup into a full one when there is no full backup yet
backup diff

while :; do
  wait_s=$(seconds_to_next_slot)
  log "next backup at $HOUR:00 UTC, in ${wait_s}s"
  sleep "$wait_s" &
  wait $! || true
  if [ "$(date -u +%u)" = "$FULL_WEEKDAY" ]; then backup full; else backup diff; fi
done
