#!/usr/bin/env bash
# The whole cluster as plain processes on loopback, for a newcomer: Redis (membership), PostgreSQL (state),
# 3 silos and 2 API hosts in cluster mode, all from this checkout's Release build. Ctrl-C stops everything.
#
#   deploy/local-cluster.sh [silos] [apis]      (defaults: 3 silos, 2 API hosts on http://127.0.0.1:5080, 5081, …)
#
# Needs Debian's postgresql and redis-server packages (apt-get install -y postgresql redis-server).
set -euo pipefail
cd "$(dirname "$0")/.."
silos=${1:-3}
apis=${2:-2}
work=$(mktemp -d /tmp/catalogs-cluster.XXXXXX)
members=() # silos and API hosts: stopped first, while Redis and PostgreSQL still answer their goodbyes
redis_pid=
cleanup() {
  echo "stopping…"
  for pid in "${members[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 20); do
    alive=0
    for pid in "${members[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.5
  done
  for pid in "${members[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || true
  [ -n "${pgbin:-}" ] && as_postgres "$pgbin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  echo "logs and data left in $work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # then the EXIT trap cleans up, once; a trap that returns would let the script go on

# PostgreSQL refuses to run as root: under root it runs as the package's postgres user.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL is missing: apt-get install -y postgresql" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "Redis is missing: apt-get install -y redis-server" >&2; exit 1; }

dotnet build -c Release src/Silo >/dev/null
dotnet build -c Release src/ApiHost >/dev/null

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly yes --dir "$work" \
  >"$work/redis.log" 2>&1 &
redis_pid=$!

pg_port=$(free_port)
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work"
as_postgres "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust --encoding=UTF8 >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$work/pg" -l "$work/postgres.log" -w \
  -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null

silo_http=()
export Cluster__Mode=Cluster
export Catalogs__DefaultReplicas=$(( silos > 1 ? 2 : 1 )) # a read replica of every shard on another silo
export Cluster__Redis="127.0.0.1:$redis_port"
export Cluster__Postgres="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres"
bin=net10.0/linux-x64
for i in $(seq 0 $((silos - 1))); do
  silo_http[$i]=$(free_port)
  Orleans__SiloPort=$(free_port) Orleans__GatewayPort=$(free_port) Catalogs__DataPath="$work/silo$i" \
    Urls="http://127.0.0.1:${silo_http[$i]}" \
    dotnet "src/Silo/bin/Release/$bin/Catalogs.Silo.dll" >"$work/silo$i.log" 2>&1 &
  members+=($!)
done
# Each silo is ready once it is an active member (its /readyz); the API hosts find their gateways through Redis.
for i in $(seq 0 $((silos - 1))); do
  until curl -sf "http://127.0.0.1:${silo_http[$i]}/readyz" >/dev/null; do sleep 0.5; done
  echo "silo $i: metrics at http://127.0.0.1:${silo_http[$i]}/metrics"
done
# A fresh operator key for /v1/admin; requests without a key act as tenant 'default' (a local trial, not production).
operator_key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export Access__OperatorKey=$operator_key Access__AnonymousTenant=default
for i in $(seq 0 $((apis - 1))); do
  port=$((5080 + i))
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
    echo "Port $port is taken (another cluster still running?): stop that first." >&2
    exit 1
  fi
  Urls="http://127.0.0.1:$port" Demo__Enabled=false Imports__Path="$work/imports" \
    dotnet "src/ApiHost/bin/Release/$bin/Catalogs.ApiHost.dll" >"$work/api$i.log" 2>&1 &
  members+=($!)
done
for i in $(seq 0 $((apis - 1))); do
  port=$((5080 + i))
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.5; done
  echo "API host $i: http://127.0.0.1:$port (docs at /docs)"
done
echo "operator key (Authorization: Bearer …, for /v1/admin): $operator_key"
echo "$silos silos, Redis 127.0.0.1:$redis_port, PostgreSQL 127.0.0.1:$pg_port; logs in $work. Ctrl-C stops."
wait
