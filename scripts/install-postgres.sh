#!/usr/bin/env bash
# Makes the PostgreSQL the tests use answer on 127.0.0.1:5432 (database "test", role "root"):
# installs Debian's postgresql when it is missing and starts its cluster when none answers.
# Only connections from loopback to the database "test" are trusted without a password.
set -euo pipefail
HOST=127.0.0.1
PORT=5432
DB=test
ROLE=root

if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=""; fi
as_postgres() { $SUDO runuser -u postgres -- "$@"; }
answers() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$HOST" -p "$PORT"; }
can_connect() { psql -h "$HOST" -p "$PORT" -U "$ROLE" -d "$DB" -Atqc 'select 1' >/dev/null 2>&1; }

if answers && can_connect; then exit 0; fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
fi
VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)

if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$VERSION main"; then
  $SUDO pg_createcluster "$VERSION" main -p "$PORT" >/dev/null
fi
HBA=/etc/postgresql/$VERSION/main/pg_hba.conf
RULE="host $DB all $HOST/32 trust  # agencybus tests"
if ! $SUDO grep -qF "$RULE" "$HBA"; then
  $SUDO sed -i "1i $RULE" "$HBA"
  if answers; then $SUDO pg_ctlcluster "$VERSION" main reload; fi
fi
if ! answers; then
  $SUDO pg_ctlcluster "$VERSION" main start || true
  for _ in $(seq 1 60); do answers && break; sleep 0.5; done
  answers || { echo "PostgreSQL did not start on $HOST:$PORT" >&2; exit 1; }
fi

as_postgres psql -q -v ON_ERROR_STOP=1 <<SQL
SELECT 'CREATE ROLE $ROLE LOGIN SUPERUSER'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE')\gexec
SELECT 'CREATE DATABASE $DB OWNER $ROLE'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB')\gexec
SQL
can_connect || { echo "cannot connect to $DB on $HOST:$PORT as $ROLE" >&2; exit 1; }
echo "PostgreSQL answers on $HOST:$PORT (database $DB, role $ROLE)"
