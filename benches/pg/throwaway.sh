#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster in a folder and prints its URL, to try `tune run --storage`
# and `tune worker` on one machine (and for the tests and benchmarks):
#
#   url=$(benches/pg/throwaway.sh /tmp/tune-pg)        # prints postgresql://tune@127.0.0.1:PORT/tune
#   url=$(benches/pg/throwaway.sh /tmp/tune-pg NAME)   # also a fresh database NAME there: its URL
#   benches/pg/throwaway.sh /tmp/tune-pg stop           # stops it (the folder can then be deleted)
#
# A server of yours instead of the folder (a URL whose user may create databases: the benchmarks'
# PG=...) starts nothing: `throwaway.sh URL NAME` makes NAME afresh there and prints its URL, and
# `throwaway.sh URL stop NAME...` drops them.
#
# Needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`; found under
# /usr/lib/postgresql/*/bin or on PATH), or with a URL its client's createdb and dropdb. Run as
# root, the cluster belongs to the `postgres` user. Trust authentication, listening on 127.0.0.1
# only: for a try-out, never for a shared server. PORT picks the port (default: a free one from
# 54320 up).
set -euo pipefail
usage="usage: throwaway.sh DIR|URL [NAME | stop [NAME...]]"
dir=${1:?$usage}
shift
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$bin" ] || bin=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
tool() { # the path of PostgreSQL's program $1
  if [ -x "$bin/$1" ]; then echo "$bin/$1"; else command -v "$1" 2>/dev/null \
    || { echo "throwaway.sh: PostgreSQL's $1 not found (apt-get install postgresql)" >&2; exit 1; }; fi
}
# fresh URL NAME: database NAME made afresh on the server at URL; its URL.
fresh() {
  "$(tool dropdb)" --if-exists --maintenance-db="$1" "$2" 2>/dev/null || true
  "$(tool createdb)" --maintenance-db="$1" "$2"
  echo "${1%/*}/$2"
}
case $dir in
  postgres://* | postgresql://*)
    if [ "${1:-}" = stop ]; then
      shift
      for name in "$@"; do "$(tool dropdb)" --if-exists --maintenance-db="$dir" "$name"; done
    else
      fresh "$dir" "${1:?$usage}"
    fi
    exit 0
    ;;
esac
[ -x "$bin/pg_ctl" ] || { echo "throwaway.sh: PostgreSQL's pg_ctl not found (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "${1:-}" = stop ]; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
  exit 0
fi
mkdir -p "$dir"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$dir"
  runuser -u postgres -- test -w "$dir" || { echo "throwaway.sh: the postgres user cannot reach $dir (a folder above it is private): choose another" >&2; exit 1; }
fi
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U tune >/dev/null
fi
port=${PORT:-}
if [ -z "$port" ]; then
  for p in $(seq 54320 54420); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then port=$p; break; fi
  done
fi
if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
fi
port=$(sed -n 4p "$dir/data/postmaster.pid")
url="postgresql://tune@127.0.0.1:$port/tune"
# The database `tune` (createdb refuses when it is there already).
as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U tune tune 2>/dev/null || true
if [ -n "${1:-}" ]; then
  fresh "$url" "$1"
else
  echo "$url"
fi
