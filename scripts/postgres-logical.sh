#!/usr/bin/env bash
# Makes the local PostgreSQL (127.0.0.1:5432) ready for pw.io.postgres.read: logical
# replication needs wal_level=logical, which takes a server restart to change.
set -euo pipefail
level=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SHOW wal_level")
if [ "$level" != "logical" ]; then
    echo "postgres: setting wal_level=logical and restarting"
    psql -h 127.0.0.1 -U postgres -d postgres -c "ALTER SYSTEM SET wal_level = logical"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main restart
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
fi
psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" \
    | grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test"
