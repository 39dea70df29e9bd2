#!/usr/bin/env bash
# Zone relay benchmark (features/relay): a stand-in core (bench/relayload core, mTLS,
# answers at once), a DMZ relay in front of it and a PFS relay in front of that, all on
# loopback with certificates from `smart-proxy ca`. For direct to the core, one hop (DMZ
# relay) and two hops (PFS relay → DMZ relay) it prints:
#   - config reports: acknowledged per second and p99 as the Puppet server sees them
#     (a relay answers 201 once the report is fsynced to its queue), and delivered per
#     second (reports posted / time until the core has all of them);
#   - ENC (GET /node/<name>, forwarded live): per second and p99;
#   - the p99 each hop adds;
# then the queue drain rate after an outage: the next hop down while BURST reports are
# queued, then started again, timed until the core has them all (one hop and two hops).
#
# Environment: DURATION (default 10s), CONNECTIONS (default 16), BURST (default 5000).
# The core, both relays and the load share the machine's CPUs; numbers in the README.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
BURST=${BURST:-5000}

source "$(dirname "$0")/lib.sh"

echo "building smart-proxy and relayload..."
(cd "$ROOT" && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy && go build -o "$WORK/relayload" ./bench/relayload)
SP="$WORK/smart-proxy"
LOAD="$WORK/relayload"

CA="$WORK/ca"
"$SP" ca init --dir "$CA" --name "Bench Zones CA" >/dev/null
for name in core dmz-relay pfs-relay puppet; do
  "$SP" ca issue "$name" --san 127.0.0.1 --dir "$CA" >/dev/null
done
cert() { echo "-cert $CA/issued/$1.pem -key $CA/issued/$1-key.pem -ca $CA/ca.pem"; }

CORE_PORT=$(free_port)
CORE_URL="https://127.0.0.1:$CORE_PORT"
start_core() {
  # shellcheck disable=SC2046
  "$LOAD" core -listen "127.0.0.1:$CORE_PORT" $(cert core) >"$WORK/core.log" 2>&1 &
  CORE_PID=$!
  PIDS+=("$CORE_PID")
  for _ in $(seq 100); do
    core_count >/dev/null 2>&1 && return
    sleep 0.05
  done
  echo "the stand-in core does not answer" >&2; exit 1
}
core_count() {
  curl -fsS --cacert "$CA/ca.pem" --cert "$CA/issued/puppet.pem" --key "$CA/issued/puppet-key.pem" "$CORE_URL/count"
}

# relay_settings NAME NEXT_HOP TRUSTED_HOSTS TRUSTED_RELAYS writes $WORK/NAME and prints its port.
relay_settings() {
  local dir="$WORK/$1" port
  port=$(free_port)
  mkdir -p "$dir/settings.d"
  cat >"$dir/settings.yml" <<EOF
:settings_directory: $dir/settings.d
:bind_host: ['127.0.0.1']
:https_port: $port
:ssl_certificate: $CA/issued/$1.pem
:ssl_private_key: $CA/issued/$1-key.pem
:ssl_ca_file: $CA/ca.pem
:trusted_hosts: $3
:log_file: $dir/proxy.log
EOF
  cat >"$dir/settings.d/relay.yml" <<EOF
:enabled: https
:next_hop_url: $2
:trusted_relays: $4
:queue_dir: $dir/queue
:retry_initial_ms: 100
:retry_max_ms: 1000
EOF
  echo "$port"
}

declare -A RELAY_PID
start_relay() {
  "$SP" --settings "$WORK/$1/settings.yml" >"$WORK/$1/stdout.log" 2>&1 &
  RELAY_PID[$1]=$!
  PIDS+=("$!")
  for _ in $(seq 200); do
    curl -fsS -o /dev/null --cacert "$CA/ca.pem" "https://127.0.0.1:$2/features" 2>/dev/null && return
    kill -0 "${RELAY_PID[$1]}" 2>/dev/null || { echo "$1 exited:" >&2; cat "$WORK/$1/stdout.log" "$WORK/$1/proxy.log" >&2; exit 1; }
    sleep 0.05
  done
  echo "$1 does not answer" >&2; exit 1
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

start_core
DMZ_PORT=$(relay_settings dmz-relay "$CORE_URL" "[pfs-relay, puppet]" "[pfs-relay]")
DMZ_URL="https://127.0.0.1:$DMZ_PORT"
PFS_PORT=$(relay_settings pfs-relay "$DMZ_URL" "[puppet]" "[]")
PFS_URL="https://127.0.0.1:$PFS_PORT"
start_relay dmz-relay "$DMZ_PORT"
start_relay pfs-relay "$PFS_PORT"

# wait_core N: seconds until the core has N reports.
wait_core() {
  # shellcheck disable=SC2046
  "$LOAD" wait -url "$CORE_URL" -n "$1" -timeout 600s $(cert puppet)
}

echo "load: $CONNECTIONS clients, $DURATION each; reports ~2 KB"
printf '%-10s %12s %10s %14s %10s %10s\n' "path" "reports/s" "p99 ms" "delivered/s" "ENC/s" "ENC p99"
declare -A REP_P99 ENC_P99
for target in direct one-hop two-hops; do
  case $target in
    direct) url=$CORE_URL ;;
    one-hop) url=$DMZ_URL ;;
    two-hops) url=$PFS_URL ;;
  esac
  before=$(core_count)
  t0=$(date +%s.%N)
  # shellcheck disable=SC2046
  read -r done rps _ p99 <<<"$("$LOAD" load -url "$url" -mode report -c "$CONNECTIONS" -d "$DURATION" $(cert puppet))"
  wait_core $((before + done)) >/dev/null
  t1=$(date +%s.%N)
  delivered=$(awk -v n="$done" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  # shellcheck disable=SC2046
  read -r _ erps _ ep99 <<<"$("$LOAD" load -url "$url" -mode enc -c "$CONNECTIONS" -d "$DURATION" $(cert puppet))"
  REP_P99[$target]=$p99
  ENC_P99[$target]=$ep99
  printf '%-10s %12s %10s %14s %10s %10s\n' "$target" "$rps" "$p99" "$delivered" "$erps" "$ep99"
done
awk -v d="${REP_P99[direct]}" -v o="${REP_P99[one-hop]}" -v t="${REP_P99[two-hops]}" \
    -v ed="${ENC_P99[direct]}" -v eo="${ENC_P99[one-hop]}" -v et="${ENC_P99[two-hops]}" 'BEGIN {
  printf "p99 added per hop: reports %.3f ms (1st), %.3f ms (2nd); ENC %.3f ms (1st), %.3f ms (2nd)\n", o - d, t - o, eo - ed, et - eo }'

echo "drain after an outage: $BURST reports queued while the next hop is down"
# One hop: the core is down while the DMZ relay queues.
stop_pid "$CORE_PID"
# shellcheck disable=SC2046
"$LOAD" burst -url "$DMZ_URL" -n "$BURST" -c "$CONNECTIONS" $(cert puppet)
start_core
secs=$(wait_core "$BURST")
awk -v n="$BURST" -v s="$secs" 'BEGIN { printf "one hop  (DMZ relay -> core):             %d reports in %.2f s = %.0f reports/s\n", n, s, n / s }'
# Two hops: the DMZ relay is down while the PFS relay queues.
before=$(core_count)
stop_pid "${RELAY_PID[dmz-relay]}"
# shellcheck disable=SC2046
"$LOAD" burst -url "$PFS_URL" -n "$BURST" -c "$CONNECTIONS" $(cert puppet)
t0=$(date +%s.%N)
start_relay dmz-relay "$DMZ_PORT"
wait_core $((before + BURST)) >/dev/null
t1=$(date +%s.%N)
awk -v n="$BURST" -v a="$t0" -v b="$t1" 'BEGIN { printf "two hops (PFS relay -> DMZ relay -> core): %d reports in %.2f s = %.0f reports/s\n", n, b - a, n / (b - a) }'
