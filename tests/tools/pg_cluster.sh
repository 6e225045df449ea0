#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests: created in a temp dir, on a free loopback port,
# trust authentication for user hsk, removed by `stop`. fsync is off (a test cluster need not survive
# a power cut) but every commit reaches the OS, so `halt` (a crash of the server) loses nothing.
#
#   pg_cluster.sh start DIR       initdb + start; prints the port
#   pg_cluster.sh stop DIR        fast shutdown, then removes DIR
#   pg_cluster.sh halt DIR        immediate shutdown (a crash), keeps DIR
#   pg_cluster.sh resume DIR      starts it again on the same port
#   pg_cluster.sh password DIR USER PASSWORD   a role that must log in with its password (SCRAM)
#
# PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres` user the
# Debian package creates (DIR is handed to it).
set -euo pipefail
cmd=${1:?usage: pg_cluster.sh start|stop|halt|resume DIR}
dir=${2:?usage: pg_cluster.sh start|stop|halt|resume DIR}
bindir=/usr/lib/postgresql/15/bin
[ -x "$bindir/initdb" ] || bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || { echo "pg_cluster: PostgreSQL 15 server binaries not found (apt-get install postgresql-15)" >&2; exit 2; }
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

start_server() {
  local port=$1
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    "${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U hsk --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
    for _ in 1 2 3; do
      port=$(free_port)
      if start_server "$port" 2>>"$dir/start.err"; then
        echo "$port" >"$dir/port"
        echo "$port"
        exit 0
      fi
    done
    cat "$dir/server.log" "$dir/start.err" >&2 || true
    exit 1
    ;;
  stop)
    [ -d "$dir/data" ] && "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  halt)
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
  resume)
    start_server "$(cat "$dir/port")"
    ;;
  password)
    user=${3:?user}; pass=${4:?password}
    port=$(cat "$dir/port")
    psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U hsk -d postgres \
      -c "SET password_encryption = 'scram-sha-256'; CREATE ROLE $user LOGIN PASSWORD '$pass'" >/dev/null
    # Before the trust lines: this role alone must give its password.
    hba="$dir/data/pg_hba.conf"
    { echo "host all $user 127.0.0.1/32 scram-sha-256"; echo "local all $user scram-sha-256"; cat "$hba"; } > "$hba.new"
    mv "$hba.new" "$hba"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$hba"
    "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" reload >/dev/null
    ;;
  *) echo "pg_cluster: unknown command $cmd" >&2; exit 2 ;;
esac
