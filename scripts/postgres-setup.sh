#!/usr/bin/env bash
# Starts a PostgreSQL server on 127.0.0.1:5432 (installing Debian's package
# first if need be) with the role the journal tests connect as:
#   postgres://maestro:maestro@127.0.0.1:5432/postgres
# Each test creates and drops its own database. Needs root.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version main"; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk '$1 == "'"$version"'" && $2 == "main" {print $4}' | grep -qx online; then
    pg_ctlcluster "$version" main start
fi
su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'maestro') THEN
        CREATE ROLE maestro LOGIN PASSWORD 'maestro' CREATEDB;
    END IF;
END $$;
SQL
echo "postgresql $version on 127.0.0.1:5432, role maestro"
