#!/usr/bin/env bash
# Reservation writes through the REST API of the real binary: CONCURRENCY clients
# (bench/apiload), each creating a DHCP reservation and deleting it again, for
# DURATION, against dhcp_embedded with :fsync: true, so every 200 waited for an
# fdatasync of the journal. Prints creates/s, p50 and p99 (goal: >= 2000 creates/s,
# p99 < 50 ms), how many journal syncs carried them, and checks that the journal holds
# a line for every acknowledged create. The same load on DNS records (dns_embedded,
# fsynced too) and TFTP host configs follows for comparison.
#
# BACKEND=etcd runs the same on a 3-member etcd cluster (plain http on loopback, the
# members on the proxy's CPU) named once in settings.yml's global :state_backend:, so
# dhcp, dns and tftp all keep their state there; it prints how many etcd
# transactions carried the DHCP writes instead of fdatasyncs, and checks etcd holds no
# reservation afterwards (every create was deleted again).
#
# Environment: DURATION (default 10s), CONCURRENCY (default 64), PIN (default 1 on
# 2+ CPUs: the proxy on CPU 0, the load generator on CPU 1), BACKEND (journal or etcd),
# DHCP_ONLY=1 (skip the DNS and TFTP runs).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-64}
BACKEND=${BACKEND:-journal}
PIN=${PIN:-$([ "$(nproc)" -ge 2 ] && echo 1 || echo 0)}
SERVER_PREFIX=()
CLIENT_PREFIX=()
if [ "$PIN" = 1 ]; then
  SERVER_PREFIX=(taskset -c 0)
  CLIENT_PREFIX=(taskset -c 1)
fi

command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"

echo "building smart-proxy and apiload..."
(cd "$ROOT" && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy && go build -o "$WORK/apiload" ./bench/apiload)

PORT=$(free_port)
mkdir -p "$WORK/settings.d" "$WORK/tftp"
printf ':settings_directory: %s\n:bind_host: ["127.0.0.1"]\n:http_port: %s\n:log_file: %s\n:log_level: WARN\n' \
  "$WORK/settings.d" "$PORT" "$WORK/proxy-file.log" >"$WORK/settings.yml"
ETCD_EPS=""
if [ "$BACKEND" = etcd ]; then
  command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }
  start_etcd3 "spapi$$" "${SERVER_PREFIX[@]}"
  printf ':state_backend: etcd\n:etcd_endpoints: ["%s"]\n:etcd_prefix: /bench-api/\n' "${ETCD_EPS//,/\", \"}" >>"$WORK/settings.yml"
fi
printf ':enabled: true\n:ping_free_ip: false\n' >"$WORK/settings.d/dhcp.yml"
cat >"$WORK/settings.d/dhcp_embedded.yml" <<EOF
:listen: 127.0.0.1:$(free_port)
:state_dir: $WORK/dhcp
:fsync: true
:subnets:
  - :network: 10.200.0.0
    :netmask: 255.255.0.0
EOF
printf ':enabled: true\n:use_provider: dns_embedded\n' >"$WORK/settings.d/dns.yml"
printf ':listen: 127.0.0.1:%s\n:state_dir: %s/dns\n:zones: [example.test]\n' "$(free_port)" "$WORK" >"$WORK/settings.d/dns_embedded.yml"
printf ':enabled: true\n:tftproot: %s/tftp\n:listen: 127.0.0.1:%s\n' "$WORK" "$(free_port)" >"$WORK/settings.d/tftp.yml"

"${SERVER_PREFIX[@]}" "$WORK/smart-proxy" --settings "$WORK/settings.yml" >"$WORK/proxy.log" 2>&1 &
PID=$!
PIDS+=("$PID")
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 200); do
  features=$(curl -fsS "$BASE/features" 2>/dev/null || true)
  [[ $features == *dhcp* && $features == *dns* && $features == *tftp* ]] && break
  kill -0 "$PID" 2>/dev/null || { echo "smart-proxy exited:" >&2; cat "$WORK/proxy.log" "$WORK/proxy-file.log" >&2; exit 1; }
  sleep 0.05
done
[[ $features == *dhcp* && $features == *dns* && $features == *tftp* ]] ||
  { echo "smart-proxy on $BASE did not start dhcp, dns and tftp: $features" >&2; cat "$WORK/proxy-file.log" >&2; exit 1; }

metric() { curl -fsS "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

echo "apiload -c $CONCURRENCY -d $DURATION (PIN=$PIN, BACKEND=$BACKEND), each client: create, delete, repeat"
if [ "$BACKEND" = etcd ]; then
  txns_before=$(metric smartproxy_dhcp_etcd_transactions_total)
  dhcp=$("${CLIENT_PREFIX[@]}" "$WORK/apiload" -url "$BASE" -kind dhcp -network 10.200.0.0 -c "$CONCURRENCY" -d "$DURATION")
  txns=$(($(metric smartproxy_dhcp_etcd_transactions_total) - txns_before))
  echo "$dhcp"
  creates=$(awk '$2 == "create" { print $3 }' <<<"$dhcp")
  deletes=$(awk '$2 == "delete" { print $3 }' <<<"$dhcp")
  left=$(ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" get --prefix --keys-only /bench-api/dhcp/reservation/ | grep -c . || true)
  [ "${left:-0}" = 0 ] || { echo "etcd still holds $left reservations after every create was deleted" >&2; exit 1; }
  awk -v c="$creates" -v d="$deletes" -v s="$txns" -v l="$(metric smartproxy_dhcp_etcd_claims_lost_total)" 'BEGIN {
    printf "dhcp etcd: %d transactions carried %d creates and %d deletes (%.1f writes per transaction, %d compares lost); no reservation left in etcd\n", s, c, d, (c + d) / (s > 0 ? s : 1), l
  }'
else
syncs_before=$(metric smartproxy_dhcp_journal_commits_total)
dhcp=$("${CLIENT_PREFIX[@]}" "$WORK/apiload" -url "$BASE" -kind dhcp -network 10.200.0.0 -c "$CONCURRENCY" -d "$DURATION")
syncs=$(($(metric smartproxy_dhcp_journal_commits_total) - syncs_before))
echo "$dhcp"
# apiload's line: <kind> <op> <count> ok <rate>/s p50 <ms> ms p99 <ms> ms ...
creates=$(awk '$2 == "create" { print $3 }' <<<"$dhcp")
deletes=$(awk '$2 == "delete" { print $3 }' <<<"$dhcp")
journaled=$(grep -c '"k":"reserve"' "$WORK/dhcp/dhcp_embedded.journal" || true)
unjournaled=$(grep -c '"k":"unreserve"' "$WORK/dhcp/dhcp_embedded.journal" || true)
[ "$journaled" -ge "$creates" ] && [ "$unjournaled" -ge "$deletes" ] ||
  { echo "journal holds $journaled reserve and $unjournaled unreserve lines for $creates creates and $deletes deletes acknowledged" >&2; exit 1; }
awk -v c="$creates" -v d="$deletes" -v s="$syncs" 'BEGIN {
  printf "dhcp journal: %d fdatasyncs carried %d creates and %d deletes (%.1f writes per sync), every one in the journal\n", s, c, d, (c + d) / (s > 0 ? s : 1)
}'
fi

if [ "${DHCP_ONLY:-0}" != 1 ]; then
  dns=$("${CLIENT_PREFIX[@]}" "$WORK/apiload" -url "$BASE" -kind dns -c "$CONCURRENCY" -d "$DURATION")
  echo "$dns"
  tftp=$("${CLIENT_PREFIX[@]}" "$WORK/apiload" -url "$BASE" -kind tftp -c "$CONCURRENCY" -d "$DURATION")
  echo "$tftp"
fi

# sub() leaves rate a string ("608" >= 2000 would compare as text): += 0 makes it a number.
awk '$2 == "create" { rate = $5; sub(/\/s$/, "", rate); rate += 0; p99 = $10 + 0 }
  END { printf "dhcp creates: %.0f/s p99 %.2f ms (goal >= 2000/s, p99 < 50 ms: %s)\n", rate, p99,
    (rate >= 2000 && p99 < 50) ? "met" : "NOT met" }' <<<"$dhcp"
