#!/bin/sh
# Entrypoint of the offline-built postgres:15 image (see .ci/postgres-image.sh).
# It behaves like the official image's entrypoint for what cubesync's tests use:
#   POSTGRES_PASSWORD          required unless POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name, default "postgres"
#   POSTGRES_DB                database created on first start, default $POSTGRES_USER
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections, default scram-sha-256
#   POSTGRES_INITDB_ARGS       extra initdb arguments
#   PGDATA                     data directory, default /var/lib/postgresql/data
# Arguments starting with "-" are passed to postgres (docker run postgres:15 -c fsync=off).
# initdb runs on first start only; the server runs as the postgres user, listening on
# 0.0.0.0:5432. Scripts in /docker-entrypoint-initdb.d are not supported.
set -eu

PGBIN=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

case "${1:-}" in
'' | -*) set -- postgres "$@" ;;
esac
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	user="${POSTGRES_USER:-postgres}"
	db="${POSTGRES_DB:-$user}"
	auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
		echo "entrypoint: POSTGRES_PASSWORD is not set; set it, or POSTGRES_HOST_AUTH_METHOD=trust" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	# shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words, like the official image
	"$PGBIN/initdb" --username="$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host="$auth" --no-sync ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\npassword_encryption = 'scram-sha-256'\n" >>"$PGDATA/postgresql.conf"
	if [ "$db" != postgres ]; then
		quoted=$(printf '%s' "$db" | sed 's/"/""/g')
		echo "CREATE DATABASE \"$quoted\";" | "$PGBIN/postgres" --single -D "$PGDATA" -c fsync=off postgres >/dev/null
	fi
	# initdb and the database creation skip fsync (seconds on overlay file systems); one sync
	# makes the new cluster durable, unless the server is told to run with fsync=off anyway.
	case " $* " in
	*" fsync=off "*) ;;
	*) sync ;;
	esac
	echo "entrypoint: initialised $PGDATA (user $user, database $db)"
fi

exec "$PGBIN/postgres" -D "$PGDATA" "$@"
