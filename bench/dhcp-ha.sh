#!/usr/bin/env bash
# DHCP high-availability benchmark (issue 14): two of our proxies (the real binary,
# dhcp_embedded with :state_backend: etcd) on a 3-member etcd cluster, against two
# Kea servers with the HA hook in hot-standby (memfile), in the same run. Each pair
# serves its own segment of the same shape as features/dhcp/embedded's HA tests: two
# server namespaces bridged to a client namespace, so every relayed broadcast
# reaches both servers of the pair.
#
# 1. Rate: perfdhcp (relay mode, broadcast) at stepped rates, ours and Kea back to
#    back per rate (state kept between steps: a /12 pool); the best achieved DORA/s
#    with <= 1% drops per pair and the ratio.
# 2. Failover gap: bench/dhcpgap starts a new client every 10 ms; 2 s in, one server
#    (ours: A; Kea: the primary, the one serving) is killed with SIGKILL. The gap is
#    the time from the kill to the first ACK of a client that began after it.
#
# Needs root, iproute2, perfdhcp (kea-admin), kea-dhcp4 with libdhcp_ha.so and
# libdhcp_lease_cmds.so (kea-dhcp4-server, kea-common), etcd (etcd-server) and Go. A
# missing peer skips its side with "skipped: <why>". Usage (2-4 minutes):
#   sudo bench/dhcp-ha.sh
#   RATES="1000 2000" SECONDS_PER_STEP=5 sudo bench/dhcp-ha.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-"500 750 1000 1250 1500 1750 2000 2500 3000 4000 5000 6000 8000"}
STEP=${SECONDS_PER_STEP:-5}
MAX_DROP=${MAX_DROP_PERCENT:-1}
GAP_SECONDS=${GAP_SECONDS:-10} # probe length; the kill is 2 s in
# Kea HA timers: a heartbeat every second, the partner declared down 2 s after the
# last answer (Kea's defaults are 10 s and 60 s; these favour Kea's failover gap).
KEA_HEARTBEAT_MS=${KEA_HEARTBEAT_MS:-1000}
KEA_MAX_RESPONSE_MS=${KEA_MAX_RESPONSE_MS:-2000}
# PIN=1 (default on 2+ CPUs): perfdhcp on CPU 0; servers and etcd on CPU 1.
PIN=${PIN:-$( [ "$(nproc)" -ge 2 ] && echo 1 || echo 0 )}
SERVER_CPU=() CLIENT_CPU=()
if [ "$PIN" = 1 ]; then SERVER_CPU=(taskset -c 1) CLIENT_CPU=(taskset -c 0); fi
PERFDHCP_OPTS=${PERFDHCP_OPTS-$( [ "$PIN" = 1 ] && echo "-g single" || true )}

WORK=${WORK:-$(mktemp -d /tmp/spdhcp-ha.XXXXXX)}
source bench/lib.sh # cleanup of PIDS and WORK, free_port
SUFFIX=$$
NAMESPACES=()
cleanup_all() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup_all EXIT

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
for tool in ip perfdhcp go curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
PAIRS=""
if command -v etcd >/dev/null; then PAIRS="ours"; else echo "ours: skipped: etcd not installed (apt-get install etcd-server)"; fi
HOOKS=$(dirname "$(ls /usr/lib/*/kea/hooks/libdhcp_ha.so /usr/lib/kea/hooks/libdhcp_ha.so 2>/dev/null | head -1)")
if ! command -v kea-dhcp4 >/dev/null; then
  echo "kea: skipped: kea-dhcp4 not installed (apt-get install kea-dhcp4-server)"
elif [ ! -f "$HOOKS/libdhcp_ha.so" ] || [ ! -f "$HOOKS/libdhcp_lease_cmds.so" ]; then
  echo "kea: skipped: libdhcp_ha.so or libdhcp_lease_cmds.so not found (kea-common)"
else
  PAIRS="$PAIRS kea"
fi
[ -n "$PAIRS" ] || exit 0

go build -o "$WORK/smart-proxy" ./cmd/smart-proxy
go build -o "$WORK/dhcpgap" ./bench/dhcpgap

# segment NAME: namespaces <NAME>a, <NAME>b (servers 10.99.0.1 and .2 on veths) and
# <NAME>c (client 10.99.0.3 on a bridge joining both veths).
segment() {
  local a="sph$1a$SUFFIX" b="sph$1b$SUFFIX" c="sph$1c$SUFFIX" i ns ifn
  NAMESPACES+=("$a" "$b" "$c")
  for ns in "$a" "$b" "$c"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
  ip -n "$c" link add br0 type bridge
  i=1
  for ns in "$a" "$b"; do
    ifn="h$1$i$SUFFIX"
    ip link add "$ifn" type veth peer name "${ifn}p"
    ip link set "$ifn" netns "$ns"; ip link set "${ifn}p" netns "$c"
    ip -n "$c" link set "${ifn}p" master br0; ip -n "$c" link set "${ifn}p" up
    ip -n "$ns" addr add "10.99.0.$i/16" dev "$ifn"; ip -n "$ns" link set "$ifn" up
    i=$((i + 1))
  done
  ip -n "$c" addr add 10.99.0.3/16 dev br0; ip -n "$c" link set br0 up
}

# The served subnet: a /12 holding the segment, so every step's new clients fit.
SUBNET_POOL_FIRST=10.96.1.1 SUBNET_POOL_LAST=10.111.250.254

# answers NAME: true once perfdhcp gets an ACK on the pair's segment. (-n 5: with
# two servers offering, perfdhcp -n 1 stops before it sends its REQUEST.)
answers() {
  local acks
  acks=$(ip netns exec "sph$1c$SUFFIX" perfdhcp -4 -l br0 -r 50 -n 5 -R 100000000 -W 500000 all 2>/dev/null |
    awk '/REQUEST-ACK/ {r = 1} r && /^received packets:/ {print $3; exit}' || true)
  [ "${acks:-0}" -gt 0 ]
}

wait_answers() {
  for _ in $(seq "${ANSWER_TRIES:-60}"); do answers "$1" && return 0; sleep 0.2; done
  echo "$1 pair does not answer" >&2; exit 1
}

declare -A NODE_PID

start_ours() {
  segment o
  start_etcd3 "spha$SUFFIX" "${SERVER_CPU[@]}"
  local i
  for i in 1 2; do
    local dir="$WORK/ours$i" port node
    node=$([ "$i" = 1 ] && echo a || echo b)
    port=$(free_port)
    mkdir -p "$dir/settings.d"
    printf ':settings_directory: %s\n:bind_host: [127.0.0.1]\n:http_port: %s\n:log_file: %s\n:log_level: WARN\n' \
      "$dir/settings.d" "$port" "$dir/proxy.log" > "$dir/settings.yml"
    for f in logs dns tftp templates registration puppet puppetca; do echo ":enabled: false" > "$dir/settings.d/$f.yml"; done
    printf ':enabled: true\n:ping_free_ip: false\n' > "$dir/settings.d/dhcp.yml"
    cat > "$dir/settings.d/dhcp_embedded.yml" <<YAML
:netns: spho${node}$SUFFIX
:interfaces: [ho$i$SUFFIX]
:state_backend: etcd
:etcd_endpoints: ["${ETCD_EPS//,/\", \"}"]
:etcd_prefix: /bench-ha/
:subnets:
  - :network: 10.96.0.0
    :netmask: 255.240.0.0
    :range: [$SUBNET_POOL_FIRST, $SUBNET_POOL_LAST]
    :routers: [10.99.0.1]
    :lease_time: 43200
YAML
    "${SERVER_CPU[@]}" "$WORK/smart-proxy" --settings "$dir/settings.yml" &
    PIDS+=($!) NODE_PID[ours$i]=$!
  done
  wait_answers o
}

# kea_config N ROLE: the HA pair's config for server N (10.99.0.N).
kea_config() {
  cat <<JSON
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "hk$1$SUFFIX" ], "dhcp-socket-type": "raw" },
  "lease-database": { "type": "memfile", "persist": true, "name": "$WORK/kea$1/leases4.csv", "lfc-interval": 0 },
  "valid-lifetime": 43200, "renew-timer": 21600, "rebind-timer": 37800, "authoritative": true,
  "multi-threading": { "enable-multi-threading": true, "thread-pool-size": 2, "packet-queue-size": 64 },
  "hooks-libraries": [
    { "library": "$HOOKS/libdhcp_lease_cmds.so" },
    { "library": "$HOOKS/libdhcp_ha.so", "parameters": { "high-availability": [ {
        "this-server-name": "kea$1", "mode": "hot-standby",
        "heartbeat-delay": $KEA_HEARTBEAT_MS, "max-response-delay": $KEA_MAX_RESPONSE_MS,
        "max-ack-delay": 5000, "max-unacked-clients": 0,
        "multi-threading": { "enable-multi-threading": true, "http-dedicated-listener": true,
                             "http-listener-threads": 2, "http-client-threads": 2 },
        "peers": [
          { "name": "kea1", "url": "http://10.99.0.1:8001/", "role": "primary", "auto-failover": true },
          { "name": "kea2", "url": "http://10.99.0.2:8001/", "role": "standby", "auto-failover": true } ] } ] } } ],
  "subnet4": [ { "id": 1, "subnet": "10.96.0.0/12", "pools": [ { "pool": "$SUBNET_POOL_FIRST - $SUBNET_POOL_LAST" } ],
                 "option-data": [ { "name": "routers", "data": "10.99.0.1" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "output_options": [ { "output": "$WORK/kea$1/kea.log" } ], "severity": "WARN" } ] } }
JSON
}

# ha_state N: the HA state Kea server N reports (ha-heartbeat on its HA listener).
ha_state() {
  ip netns exec "sphkc$SUFFIX" curl -s -m 1 -X POST -H 'Content-Type: application/json' \
    -d '{"command": "ha-heartbeat", "service": ["dhcp4"]}' "http://10.99.0.$1:8001/" |
    sed -n 's/.*"state": *"\([^"]*\)".*/\1/p'
}

start_kea() {
  segment k
  local i ns
  for i in 1 2; do
    mkdir -p "$WORK/kea$i"
    kea_config "$i" > "$WORK/kea$i/kea-dhcp4.json"
    ns=$([ "$i" = 1 ] && echo "sphka$SUFFIX" || echo "sphkb$SUFFIX")
    KEA_PIDFILE_DIR="$WORK/kea$i" KEA_LOCKFILE_DIR="$WORK/kea$i" \
      ip netns exec "$ns" "${SERVER_CPU[@]}" kea-dhcp4 -c "$WORK/kea$i/kea-dhcp4.json" >"$WORK/kea$i/stdout" 2>&1 &
    PIDS+=($!) NODE_PID[kea$i]=$!
  done
  for _ in $(seq 150); do
    [ "$(ha_state 1)" = hot-standby ] && [ "$(ha_state 2)" = hot-standby ] && break
    sleep 0.2
  done
  if [ "$(ha_state 1)" != hot-standby ] || [ "$(ha_state 2)" != hot-standby ]; then
    echo "kea HA pair not in hot-standby: primary '$(ha_state 1)', standby '$(ha_state 2)'" >&2
    tail -5 "$WORK/kea1/kea.log" "$WORK/kea2/kea.log" >&2; exit 1
  fi
  wait_answers k
}

# step PAIR RATE: one perfdhcp run; sets ACHIEVED and DROPS (worst of the two exchanges).
step() {
  local seg out
  seg=$([ "$1" = ours ] && echo o || echo k)
  out=$(ip netns exec "sph${seg}c$SUFFIX" "${CLIENT_CPU[@]}" perfdhcp -4 -l br0 $PERFDHCP_OPTS \
    -r "$2" -p "$STEP" -R 10000000 all 2>&1 || true)
  ACHIEVED=$(echo "$out" | awk '/^Rate:/ {print $2; exit}')
  ACHIEVED=${ACHIEVED:-0}
  DROPS=$(echo "$out" | awk '/drops ratio:/ {gsub("%","",$3); if ($3+0 > m) m = $3+0} END {print m+0}')
  DETAIL=$(echo "$out" | awk '/^\*\*\*Statistics for: (DISCOVER|REQUEST)/ {k = ($3 ~ /^DISCOVER/) ? "offer" : "ack"}
    /^drops ratio:/ && k {printf "%s %s%% ", k, $3; k = ""} /^avg delay: [0-9]/ {printf "(%s ms) ", $3}')
}

# gap PAIR NODE: probe clients while NODE is killed 2 s in; prints the gap.
gap() {
  local seg kill_ns
  seg=$([ "$1" = ours ] && echo o || echo k)
  ip netns exec "sph${seg}c$SUFFIX" "$WORK/dhcpgap" -local 10.99.0.3 -dev br0 \
    -interval 10ms -duration "${GAP_SECONDS}s" > "$WORK/gap-$1" &
  local probe=$!
  sleep 2
  kill_ns=$(date +%s%N)
  { kill -KILL "${NODE_PID[$2]}"; wait "${NODE_PID[$2]}"; } 2>/dev/null || true # no "Killed" line
  wait "$probe"
  awk -v k="$kill_ns" -v pair="$1" -v node="$2" '
    $1 < k - 1e9 && $1 >= k - 2e9 { before++; if ($2 > 0) before_acked++ }
    $1 >= k { after++; if ($2 > 0) { acked++; if (first == 0 || $2 < first) first = $2 } }
    $1 >= k && $2 == 0 { lost++ }
    END {
      printf "%-4s kill -9 %s: clients before the kill (last 1 s) ACKed %d/%d; after it ACKed %d/%d; ", pair, node, before_acked, before, acked, after
      if (first > 0) printf "gap %.0f ms\n", (first - k) / 1e6; else printf "gap > probe (no new client ACKed)\n"
    }' "$WORK/gap-$1"
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), uptime:$(uptime | sed 's/.*up/ up/')"
for pair in $PAIRS; do "start_$pair"; done

echo "== rate (perfdhcp -r RATE -p $STEP, relay broadcast to both servers of a pair)"
# The machine is shared: a step over the drop limit is run once more, and a pair
# stops stepping after two rates in a row over it.
declare -A best=([ours]=0 [kea]=0) over=([ours]=0 [kea]=0)
for rate in $RATES; do
  for pair in $PAIRS; do
    [ "${over[$pair]}" -ge 2 ] && continue # past its best
    for try in 1 2; do
      step "$pair" "$rate"
      ok=$(awk -v d="$DROPS" -v m="$MAX_DROP" 'BEGIN {print (d <= m) ? "ok" : "over"}')
      printf '%-4s -r %-6s achieved %8.1f DORA/s  drops %7.3f%%  %-4s  %s\n' "$pair" "$rate" "$ACHIEVED" "$DROPS" "$ok" "$DETAIL"
      [ "$ok" = ok ] && break
    done
    if [ "$ok" = ok ]; then
      over[$pair]=0
      best[$pair]=$(awk -v a="$ACHIEVED" -v b="${best[$pair]}" 'BEGIN {print (a > b) ? a : b}')
    else
      over[$pair]=$((over[$pair] + 1))
    fi
  done
done

# proxy_commits: both proxies' etcd commits so far.
proxy_commits() {
  local i sum=0 n
  for i in 1 2; do
    n=$(curl -s "http://127.0.0.1:$(awk '/http_port/ {print $2}' "$WORK/ours$i/settings.yml")/metrics" |
      awk '/^smartproxy_dhcp_etcd_commits_total/ {print $2}')
    sum=$((sum + ${n:-0}))
  done
  echo "$sum"
}

# An overloaded step leaves our proxies with queued lease writes; the failover probe
# starts only once they are done (commits unchanged for a second), and says how long.
if [[ " $PAIRS " == *" ours "* ]]; then
  settle_start=$(date +%s%N) last=-1
  for _ in $(seq 60); do
    now=$(proxy_commits)
    [ "$now" = "$last" ] && break
    last=$now
    sleep 1
  done
  awk -v s="$settle_start" -v e="$(date +%s%N)" 'BEGIN {printf "ours: queued lease writes done %.1f s after the last step (1 s of it the check)\n", (e - s) / 1e9}'
fi

# Where our ACKs wait: in etcd transactions (up to 64 leases each), committed by raft
# and fsynced by every member's WAL.
if [[ " $PAIRS " == *" ours "* ]]; then
  curl -s "${ETCD_EPS%%,*}/metrics" | awk '
    /^etcd_disk_wal_fsync_duration_seconds_sum/ {s = $2} /^etcd_disk_wal_fsync_duration_seconds_count/ {n = $2}
    END {printf "ours: etcd member 0 did %d WAL fsyncs averaging %.2f ms\n", n, n ? s * 1000 / n : 0}'
  for i in 1 2; do
    curl -s "http://127.0.0.1:$(awk '/http_port/ {print $2}' "$WORK/ours$i/settings.yml")/metrics" | awk -v i="$i" '
      /^smartproxy_dhcp_etcd_commits_total/ {c = $2} /^smartproxy_dhcp_etcd_claims_lost_total/ {l = $2}
      /^smartproxy_dhcp_etcd_transactions_total/ {t = $2} /^smartproxy_dhcp_etcd_shed_total/ {d = $2}
      END {printf "ours: proxy %d etcd commits %d in %d transactions (%.1f each), claims lost to the other proxy %d, writes shed after 500 ms %d\n", i, c, t, t ? c / t : 0, l, d}'
  done
fi

echo "== failover (a new client every 10 ms; kill -9 2 s in)"
for pair in $PAIRS; do
  if [ "$pair" = ours ]; then gap ours ours1; else gap kea kea1; fi
done

echo "ours (2 proxies on etcd)   best=${best[ours]} DORA/s (<= ${MAX_DROP}% drops)"
echo "kea  (HA hot-standby)      best=${best[kea]} DORA/s (<= ${MAX_DROP}% drops)"
awk -v o="${best[ours]}" -v k="${best[kea]}" 'BEGIN {
  if (o > 0 && k > 0) printf "ratio=%.2f (goal >= 1.5)\n", o / k; else print "ratio=n/a (a pair sustained no rate at <= 1% drops)" }'
