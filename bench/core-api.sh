#!/usr/bin/env bash
# foreman-core's read API under load, on SQLite and on PostgreSQL: builds foreman-core,
# smart-proxy and bench/coreseed, starts the proxy on its embedded defaults (the shipped
# config/settings.yml and settings.d/, ports and state dirs swapped for temporary ones),
# then for each database starts the core on loopback http, seeds it through the API
# (the proxy registered, a domain, a subnet, HOSTS hosts created by SEED_CLIENTS clients at once),
# and runs wrk with Basic auth against
#   GET /api/v2/smart_proxies
#   GET /api/v2/hosts?search=name="host05000.example.test"   (exact name)
#   GET /api/v2/hosts?search=name ~ 0500                      (substring: scans every name)
# printing req/s and p99 per database and route. PostgreSQL is a throwaway cluster
# (initdb in a temporary dir, its own port and socket dir), stopped at the end; it is
# skipped with a message when PostgreSQL is not installed. Last it prints the memory
# (RSS and PSS from /proc) of the idle core beside the idle proxy.
#
# Environment: DURATION (wrk -d per route, default 5s), CONNECTIONS (default 32), HOSTS
# (default 10000), SEED_CLIENTS (default 32), DATABASES (default "sqlite postgres"),
# PIN (default 1 on 2+ CPUs: the core, PostgreSQL and the proxy on CPU 0, wrk and the
# seeder on CPU 1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-32}
HOSTS=${HOSTS:-10000}
SEED_CLIENTS=${SEED_CLIENTS:-32}
DATABASES=${DATABASES:-sqlite postgres}
PIN=${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
SERVER_PREFIX=()
CLIENT_PREFIX=()
if [ "$PIN" = 1 ]; then
  SERVER_PREFIX=(taskset -c 0)
  CLIENT_PREFIX=(taskset -c 1)
  THREADS=${THREADS:-1}
else
  THREADS=${THREADS:-2}
fi
PASSWORD=bench-$RANDOM$RANDOM

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"

# PostgreSQL, when started: its data dir lives outside WORK (WORK is private to this
# user, and initdb runs as postgres when we are root) and is stopped before cleanup.
PG_DIR=
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
stop_postgres() {
  [ -n "$PG_DIR" ] || return 0
  as_postgres "$PG_BIN/pg_ctl -D $PG_DIR/data -m immediate -w stop" >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=
}
trap 'stop_postgres; cleanup' EXIT

echo "uptime:$(uptime)"
echo "building foreman-core, smart-proxy and coreseed..."
(cd "$ROOT" && go build -o "$WORK/foreman-core" ./cmd/foreman-core && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy &&
  go build -o "$WORK/coreseed" ./bench/coreseed)

# --- the smart proxy on its embedded defaults (DNS, TFTP, HTTPBoot, Logs) ---
PROXY_PORT=$(free_port)
mkdir -p "$WORK/proxy"
cp -r "$ROOT/settings.d" "$WORK/proxy/settings.d"
sed -e "s|^:http_port:.*|:http_port: $PROXY_PORT|" \
    -e "s|^:settings_directory:.*|:settings_directory: $WORK/proxy/settings.d|" \
    -e "s|^:log_file:.*|:log_file: $WORK/proxy/proxy.log|" \
    "$ROOT/config/settings.yml" >"$WORK/proxy/settings.yml"
sed -i -e "s|^:listen:.*|:listen: 127.0.0.1:$(free_port)|" -e "s|^:state_dir:.*|:state_dir: $WORK/proxy/dns|" \
  "$WORK/proxy/settings.d/dns_embedded.yml"
sed -i -e "s|^:listen:.*|:listen: 127.0.0.1:$(free_port)|" -e "s|^:tftproot:.*|:tftproot: $WORK/proxy/tftpboot|" \
  "$WORK/proxy/settings.d/tftp.yml"
sed -i -e "s|^:root_dir:.*|:root_dir: $WORK/proxy/tftpboot|" "$WORK/proxy/settings.d/httpboot.yml"
mkdir -p "$WORK/proxy/tftpboot"
"${SERVER_PREFIX[@]}" "$WORK/smart-proxy" --settings "$WORK/proxy/settings.yml" >"$WORK/proxy/stdout.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
PROXY="http://127.0.0.1:$PROXY_PORT"
for _ in $(seq 100); do
  features=$(curl -fsS "$PROXY/features" 2>/dev/null || true)
  [[ $features == *tftp* ]] && break
  kill -0 "$PROXY_PID" 2>/dev/null || { echo "smart-proxy exited:" >&2; cat "$WORK/proxy/"*.log >&2; exit 1; }
  sleep 0.1
done
[[ $features == *tftp* ]] || { echo "smart-proxy on $PROXY did not start: $features" >&2; cat "$WORK/proxy/proxy.log" >&2; exit 1; }
echo "smart-proxy on $PROXY: /features = $features"
sleep 1
read -r proxy_rss proxy_pss <<<"$(memory "$PROXY_PID")"

# start_postgres starts a throwaway cluster and sets PG_URL.
start_postgres() {
  local port
  port=$(free_port)
  PG_DIR=$(mktemp -d /tmp/core-bench-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  as_postgres "$PG_BIN/initdb -D $PG_DIR/data -A trust -U postgres" >"$WORK/initdb.log" 2>&1 ||
    { cat "$WORK/initdb.log" >&2; return 1; }
  as_postgres "${SERVER_PREFIX[*]} $PG_BIN/pg_ctl -D $PG_DIR/data -o '-p $port -k $PG_DIR -c listen_addresses=127.0.0.1' -l $PG_DIR/pg.log -w start" >/dev/null ||
    { cat "$PG_DIR/pg.log" >&2; return 1; }
  PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

# postgres_memory prints "<RSS MiB> <PSS MiB>" summed over the cluster's processes.
postgres_memory() {
  local master
  master=$(head -n 1 "$PG_DIR/data/postmaster.pid")
  for pid in "$master" $(pgrep -P "$master"); do memory "$pid"; done 2>/dev/null |
    awk '{ rss += $1; pss += $2 } END { printf "%.1f %.1f\n", rss, pss }'
}

# run_wrk NAME PATH runs wrk with Basic auth and prints "<req/s> <p99 ms>".
AUTH="Authorization: Basic $(printf 'admin:%s' "$PASSWORD" | base64 -w0)"
run_wrk() {
  local out
  out=$("${CLIENT_PREFIX[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "$AUTH" "$CORE$2")
  echo "$out" >"$WORK/wrk-$DB-$1.txt"
  if grep -q "Non-2xx or 3xx responses" <<<"$out"; then
    echo "wrk saw error responses on $2:" >&2
    echo "$out" >&2
    exit 1
  fi
  wrk_summary <<<"$out"
}

# expect_total PATH N fails unless the index at PATH has total N (the search works
# before it is timed).
expect_total() {
  local got
  got=$(curl -fsS -H "$AUTH" "$CORE$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["subtotal"])')
  [ "$got" = "$2" ] || { echo "$1 found $got records, want $2" >&2; exit 1; }
}

EXACT='/api/v2/hosts?search=name%3D%22host05000.example.test%22'
CONTAINS='/api/v2/hosts?search=name+~+0500'
RESULTS=()
MEMORY=()
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, Basic auth (PIN=$PIN)"
for DB in $DATABASES; do
  case $DB in
    sqlite) database=$WORK/core-$DB/foreman-core.db ;;
    postgres)
      if [ -z "$PG_BIN" ]; then
        echo "postgres: skipped, PostgreSQL is not installed (apt-get install postgresql)"
        continue
      fi
      start_postgres
      database=$PG_URL ;;
    *) echo "unknown database $DB (sqlite, postgres)" >&2; exit 2 ;;
  esac
  CORE_PORT=$(free_port)
  mkdir -p "$WORK/core-$DB"
  cat >"$WORK/core-$DB/foreman-core.yml" <<EOF
bind_host: 127.0.0.1
http_port: $CORE_PORT
state_dir: $WORK/core-$DB
database: $database
admin_login: admin
admin_password: $PASSWORD
log_level: INFO
log_file: $WORK/core-$DB/core.log
EOF
  "${SERVER_PREFIX[@]}" "$WORK/foreman-core" --config "$WORK/core-$DB/foreman-core.yml" >"$WORK/core-$DB/stdout.log" 2>&1 &
  CORE_PID=$!
  PIDS+=("$CORE_PID")
  CORE="http://127.0.0.1:$CORE_PORT"
  for _ in $(seq 100); do
    curl -fsS -o /dev/null -H "$AUTH" "$CORE/api/v2/smart_proxies" 2>/dev/null && break
    kill -0 "$CORE_PID" 2>/dev/null || { echo "foreman-core exited:" >&2; cat "$WORK/core-$DB/"*.log >&2; exit 1; }
    sleep 0.1
  done
  sleep 1
  read -r empty_rss empty_pss <<<"$(memory "$CORE_PID")"

  "${CLIENT_PREFIX[@]}" "$WORK/coreseed" -url "$CORE" -password "$PASSWORD" -proxy "$PROXY" -n "$HOSTS" -c "$SEED_CLIENTS" |
    sed "s/^/$DB: /"
  expect_total /api/v2/smart_proxies 1
  expect_total "$EXACT" 1
  expect_total "$CONTAINS" "$(seq -f 'host%05g' 0 $((HOSTS - 1)) | grep -c 0500)"

  for route in "smart_proxies /api/v2/smart_proxies" "hosts_exact $EXACT" "hosts_contains $CONTAINS"; do
    read -r name path <<<"$route"
    read -r rps p99 <<<"$(run_wrk "$name" "$path")"
    RESULTS+=("$DB $name $rps $p99")
    printf '%-9s %-16s req/s=%-7s p99=%sms\n' "$DB" "$name" "$rps" "$p99"
  done

  sleep 2
  read -r busy_rss busy_pss <<<"$(memory "$CORE_PID")"
  db_memory=-
  [ "$DB" = postgres ] && db_memory=$(postgres_memory | awk '{ printf "RSS %s MiB, PSS %s MiB", $1, $2 }')
  MEMORY+=("$DB $empty_rss $empty_pss $busy_rss $busy_pss|$db_memory")

  kill -TERM "$CORE_PID"
  wait "$CORE_PID" || true
  [ "$DB" = postgres ] && stop_postgres
done

echo
echo "summary ($HOSTS hosts, wrk -c$CONNECTIONS -d$DURATION, PIN=$PIN):"
printf '  %-9s %-16s %8s %10s\n' database route req/s p99
for r in "${RESULTS[@]}"; do
  read -r db name rps p99 <<<"$r"
  printf '  %-9s %-16s %8s %8sms\n' "$db" "$name" "$rps" "$p99"
done
echo "memory, idle (MiB, from /proc/PID/smaps_rollup):"
printf '  %-44s RSS %6s  PSS %6s\n' "smart-proxy (embedded defaults)" "$proxy_rss" "$proxy_pss"
for m in "${MEMORY[@]}"; do
  read -r db empty_rss empty_pss busy_rss busy_pss <<<"${m%%|*}"
  printf '  %-44s RSS %6s  PSS %6s\n' "foreman-core $db, empty, started" "$empty_rss" "$empty_pss"
  printf '  %-44s RSS %6s  PSS %6s\n' "foreman-core $db, $HOSTS hosts, after wrk" "$busy_rss" "$busy_pss"
  [ "${m#*|}" != - ] && printf '  %-44s %s\n' "PostgreSQL cluster (all processes)" "${m#*|}"
done
echo "uptime:$(uptime)"
