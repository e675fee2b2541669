#!/bin/sh
# Writes the users PgBouncer lets in (the owner for the workers, the authenticator for the APIs)
# from the environment, then runs PgBouncer in the foreground. The passwords never touch the
# image; the file lives in the container's /tmp only.
set -eu
: "${DATABASE_OWNER:?}" "${DATABASE_OWNER_PASSWORD:?}"
: "${DATABASE_AUTHENTICATOR:?}" "${DATABASE_AUTHENTICATOR_PASSWORD:?}"
umask 077
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
{
  echo "$(quote "$DATABASE_OWNER") $(quote "$DATABASE_OWNER_PASSWORD")"
  echo "$(quote "$DATABASE_AUTHENTICATOR") $(quote "$DATABASE_AUTHENTICATOR_PASSWORD")"
} >/tmp/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
