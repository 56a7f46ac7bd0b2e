#!/usr/bin/env bash
# Starts a PostgreSQL server on 127.0.0.1:5432 (installing Debian's package
# first if need be) with the role the journal tests connect as:
#   postgres://maestro:maestro@127.0.0.1:5432/postgres
# Each test creates and drops its own database. Needs root; safe to run
# again (it only does what is missing).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: sudo $0" >&2
    exit 1
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main >/dev/null
fi
port=$(pg_lsclusters -h | awk '$1 == "'"$version"'" && $2 == "main" {print $3}')
if [ "$port" != 5432 ]; then
    echo "cluster $version/main listens on port $port, not 5432: the tests would not find it" >&2
    exit 1
fi
# Containers often have no init system, and the package's policy may keep
# it from starting the server: start it here.
if ! pg_lsclusters -h | awk '$1 == "'"$version"'" && $2 == "main" {print $4}' | grep -qx online; then
    pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p 5432 || {
    echo "postgresql $version does not accept connections on 127.0.0.1:5432" >&2
    exit 1
}
# The role is (re)set each time, so a role left with another password works.
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'maestro') THEN
        CREATE ROLE maestro LOGIN PASSWORD 'maestro' CREATEDB;
    ELSE
        ALTER ROLE maestro LOGIN PASSWORD 'maestro' CREATEDB;
    END IF;
END $$;
SQL
# What the tests do first: log in over TCP with the password.
PGPASSWORD=maestro psql -q -h 127.0.0.1 -p 5432 -U maestro -d postgres -c 'SELECT 1' >/dev/null
echo "postgresql $version on 127.0.0.1:5432, role maestro"
