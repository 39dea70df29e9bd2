#!/usr/bin/env bash
# DHCP benchmark: our embedded server (dhcp_embedded, durable journal with fsync)
# against Kea DHCPv4 (memfile, persist: true; peers.md §3), side by side in one run.
# perfdhcp (kea-admin) drives each at stepped rates (-r) from a client namespace,
# acting as a relay; every step starts the server with empty state. For each server
# the script prints the highest achieved rate with at most 1% drops, then the ratio.
#
# Needs root, iproute2, perfdhcp, kea-dhcp4 and Go. Usage:
#   sudo bench/dhcp.sh                 # rates 2000..16000, 10 s per step
#   RATES="4000 8000" SECONDS_PER_STEP=5 REPEAT=3 sudo bench/dhcp.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"2000 4000 6000 8000 10000 11000 12000 13000 14000 15000 16000"}
STEP=${SECONDS_PER_STEP:-10}
MAX_DROP=${MAX_DROP_PERCENT:-1}
REPEAT=${REPEAT:-1} # runs per server and rate; the one with the fewest drops counts
# PIN=1 (default on 2+ CPUs): perfdhcp on CPU 0, the server on CPU 1, so the load
# generator always has a core of its own and the server under test has the other.
PIN=${PIN:-$( [ "$(nproc)" -ge 2 ] && echo 1 || echo 0 )}
SERVER_CPU=() CLIENT_CPU=()
if [ "$PIN" = 1 ]; then SERVER_CPU=(taskset -c 1) CLIENT_CPU=(taskset -c 0); fi
CLK_TCK=$(getconf CLK_TCK)
S=spdhcp-bench-s C=spdhcp-bench-c SIF=spdhcp-bs CIF=spdhcp-bc
WORK=${WORK:-$(mktemp -d /tmp/spdhcp-bench.XXXXXX)}
SERVER_PID=""

cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

for tool in ip perfdhcp kea-dhcp4 go; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

# Namespaces: server 10.99.0.1, perfdhcp 10.99.0.2 (its giaddr), both inside the
# served 10.96.0.0/12 so 10 s at 20k/s cannot exhaust the pool.
ip netns del "$S" 2>/dev/null || true; ip netns del "$C" 2>/dev/null || true
ip netns add "$S"; ip netns add "$C"
ip link add "$SIF" type veth peer name "$CIF"
ip link set "$SIF" netns "$S"; ip link set "$CIF" netns "$C"
ip -n "$S" addr add 10.99.0.1/16 dev "$SIF"; ip -n "$C" addr add 10.99.0.2/16 dev "$CIF"
for ns_if in "$S $SIF" "$C $CIF" "$S lo" "$C lo"; do set -- $ns_if; ip -n "$1" link set "$2" up; done

go build -o "$WORK/smart-proxy" ./cmd/smart-proxy

# Our server: the real binary, only dhcp enabled, run inside the server namespace.
mkdir -p "$WORK/ours/settings.d"
cat > "$WORK/ours/settings.yml" <<YAML
:settings_directory: $WORK/ours/settings.d
:bind_host: ['127.0.0.1']
:http_port: 8000
:log_file: $WORK/ours/proxy.log
:log_level: WARN
YAML
echo ":enabled: false" > "$WORK/ours/settings.d/logs.yml"
for f in dns tftp templates registration puppet puppetca; do echo ":enabled: false" > "$WORK/ours/settings.d/$f.yml"; done
echo ":enabled: true" > "$WORK/ours/settings.d/dhcp.yml"
cat > "$WORK/ours/settings.d/dhcp_embedded.yml" <<YAML
:interfaces: [$SIF]
:state_dir: $WORK/ours/state
:fsync: true
:subnets:
  - :network: 10.96.0.0
    :netmask: 255.240.0.0
    :range: [10.96.1.1, 10.111.250.254]
    :routers: [10.99.0.1]
    :lease_time: 43200
YAML

# Kea: memfile with persist, single-threaded (the 2.2 default), WARN logging.
mkdir -p "$WORK/kea"
cat > "$WORK/kea/kea-dhcp4.json" <<JSON
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "$SIF" ], "dhcp-socket-type": "raw" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea/leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 43200, "renew-timer": 21600, "rebind-timer": 37800, "authoritative": true,
  "subnet4": [ { "id": 1, "subnet": "10.96.0.0/12", "pools": [ { "pool": "10.96.1.1 - 10.111.250.254" } ],
                 "option-data": [ { "name": "routers", "data": "10.99.0.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$WORK/kea/kea.log" } ], "severity": "WARN" } ] } }
JSON
export KEA_PIDFILE_DIR="$WORK/kea" KEA_LOCKFILE_DIR="$WORK/kea"

start_server() { # $1 = ours | kea; waits until it answers
  if [ "$1" = ours ]; then
    rm -rf "$WORK/ours/state"
    ip netns exec "$S" "${SERVER_CPU[@]}" "$WORK/smart-proxy" --settings "$WORK/ours/settings.yml" &
  else
    rm -f "$WORK/kea/leases4.csv"* "$WORK/kea/"*.pid
    ip netns exec "$S" "${SERVER_CPU[@]}" kea-dhcp4 -c "$WORK/kea/kea-dhcp4.json" >/dev/null 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 50); do
    probe=$(ip netns exec "$C" perfdhcp -4 -l "$CIF" -r 10 -n 1 -R 1 -W 300000 all 2>/dev/null || true)
    case "$probe" in *"received packets: 1"*) return 0 ;; esac
    sleep 0.1
  done
  echo "$1 did not start" >&2; stop_server; exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# run_step NAME RATE: sets ACHIEVED (DORA/s), DROPS (worst drop % of the two
# exchanges) and CPU (server CPU ms per 1000 DORA). It runs in this shell, so the
# trap always knows the server's PID.
run_step() {
  start_server "$1"
  local before after
  before=$(cpu_ticks)
  out=$(ip netns exec "$C" "${CLIENT_CPU[@]}" perfdhcp -4 -l "$CIF" -r "$2" -p "$STEP" -R 10000000 all 2>&1 || true)
  after=$(cpu_ticks)
  stop_server
  ACHIEVED=$(echo "$out" | awk '/^Rate:/ {print $2; exit}')
  ACHIEVED=${ACHIEVED:-0}
  DROPS=$(echo "$out" | awk '/drops ratio:/ {gsub("%","",$3); if ($3+0 > m) m = $3+0} END {print m+0}')
  CPU=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v a="$ACHIEVED" -v s="$STEP" \
    'BEGIN {printf "%.0f", (a > 0) ? t * 1000 / hz / (a * s / 1000) : 0}')
}

# Each rate is run against both servers back to back, so load from anything else on
# the machine falls on both alike.
declare -A best=([ours]=0 [kea]=0)
for rate in $RATES; do
  for server in ours kea; do
    best_drops=101 best_achieved=0 best_cpu=0
    for _ in $(seq "$REPEAT"); do
      run_step "$server" "$rate"
      if awk -v d="$DROPS" -v b="$best_drops" 'BEGIN {exit !(d < b)}'; then
        best_drops=$DROPS best_achieved=$ACHIEVED best_cpu=$CPU
      fi
    done
    DROPS=$best_drops ACHIEVED=$best_achieved CPU=$best_cpu
    ok=$(awk -v d="$DROPS" -v m="$MAX_DROP" 'BEGIN {print (d <= m) ? "ok" : "over"}')
    printf '%-5s -r %-6s achieved %8.1f DORA/s  drops %7.3f%%  server CPU %4s ms/1000 DORA  %s\n' \
      "$server" "$rate" "$ACHIEVED" "$DROPS" "$CPU" "$ok"
    if [ "$ok" = ok ]; then
      best[$server]=$(awk -v a="$ACHIEVED" -v b="${best[$server]}" 'BEGIN {print (a > b) ? a : b}')
    fi
  done
done

echo "ours best=${best[ours]} DORA/s (<= ${MAX_DROP}% drops)"
echo "kea  best=${best[kea]} DORA/s (<= ${MAX_DROP}% drops)"
awk -v o="${best[ours]}" -v k="${best[kea]}" 'BEGIN {printf "ratio=%.2f\n", (k > 0) ? o / k : 0}'
