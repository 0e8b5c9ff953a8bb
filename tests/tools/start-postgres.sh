#!/bin/bash
# Start a throw-away PostgreSQL for the ledger tests (Debian's postgresql package).
# Prints nothing on success; the tests find it through ARDOISE_TEST_PG (tests/conftest.py).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=/tmp/ardoise-pg
PORT=${ARDOISE_PG_PORT:-55432}
if [ -f "$DIR/postmaster.pid" ] && su postgres -c "$PGBIN/pg_ctl -D $DIR status" >/dev/null 2>&1; then
  exit 0
fi
rm -rf "$DIR"; mkdir -p "$DIR"; chown postgres: "$DIR"
su postgres -c "$PGBIN/initdb -D $DIR -A trust -U postgres --no-sync" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D $DIR -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' -l $DIR/log -w start" >/dev/null
su postgres -c "$PGBIN/createdb -h 127.0.0.1 -p $PORT ardoise_test"
