# Shared by the benchmarks that need a private PostgreSQL server (stream.sh, store_postgres.sh):
# source it, do not run it. Debian's postgresql package (scripts/setup.sh installs it); runs as
# the postgres user, so the directory must be one it can enter.
# pg_start DIR      initdb + start a server in DIR on a free port; sets pgdir and pgport
# pg_stop           stops it (immediate; safe to call when none was started)
# pg_new_db NAME    creates database NAME and prints its store URL
# pg_query DB SQL   one query's result, unaligned
pg_bin=/usr/lib/postgresql/15/bin

pg_start() {
  pgdir=$1
  pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$pgdir"; chown postgres "$pgdir"
  runuser -u postgres -- "$pg_bin/initdb" -D "$pgdir" -A trust >/dev/null
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pgdir" -l "$pgdir/log" \
    -o "-p $pgport -k $pgdir -c listen_addresses=127.0.0.1" -w start >/dev/null
}

pg_stop() {
  [ -n "${pgdir:-}" ] || return 0
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pgdir" -m immediate stop >/dev/null 2>&1 || true
}

pg_new_db() {
  runuser -u postgres -- psql -h 127.0.0.1 -p "$pgport" -qc "create database $1" postgres
  echo "postgresql://postgres@127.0.0.1:$pgport/$1"
}

pg_query() {
  runuser -u postgres -- psql -h 127.0.0.1 -p "$pgport" -tAc "$2" "$1"
}
