#!/usr/bin/env bash
# DNS benchmarks against BIND in the same run, on loopback:
#  1. Record creates per second: POST /dns (A records) through our API with the
#     dns_nsupdate provider, driven by wrk, against the Ruby proxy's way of one
#     `nsupdate -k` process per record, both with the same concurrency and the same
#     BIND zone. Goal: ratio >= 20.
#  2. Queries per second (dnsperf) of dns_embedded against BIND serving the same
#     records. Goal: ratio >= 1.0.
#
# Environment: DURATION (seconds per wrk/dnsperf run, default 5), CONCURRENCY (API
# clients and nsupdate processes at once, default 32), RUBY_RECORDS (nsupdate runs,
# default 300), ZONE_RECORDS (records served in part 2, default 1000),
# DNSPERF_CLIENTS (dnsperf -c, default 4).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-32}
RUBY_RECORDS=${RUBY_RECORDS:-300}
ZONE_RECORDS=${ZONE_RECORDS:-1000}
DNSPERF_CLIENTS=${DNSPERF_CLIENTS:-4}

for bin in named tsig-keygen nsupdate dig dnsperf wrk curl; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install bind9 bind9-dnsutils dnsperf wrk curl)" >&2; exit 1; }
done

source "$(dirname "$0")/lib.sh"

# wait_dns waits until a DNS server answers the SOA of example.test.
wait_dns() {
  for _ in $(seq 200); do
    [ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$1" example.test SOA 2>/dev/null)" ] && return 0
    sleep 0.05
  done
  echo "no DNS server on port $1" >&2
  exit 1
}

# start_proxy DIR HTTP_PORT: run smart-proxy on DIR/settings.yml, wait for /dns to be up.
start_proxy() {
  "$WORK/smart-proxy" --settings "$1/settings.yml" >"$1/proxy.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$2/features" 2>/dev/null | grep -q '"dns"' && return 0
    sleep 0.05
  done
  echo "smart-proxy did not start:" >&2
  cat "$1/proxy.log" >&2
  exit 1
}

# proxy_dir NAME HTTP_PORT: a settings dir whose settings.d the caller fills.
proxy_dir() {
  mkdir -p "$WORK/$1/settings.d"
  printf ':settings_directory: %s\n:bind_host: ["127.0.0.1"]\n:http_port: %s\n:log_file: %s\n:log_level: WARN\n' \
    "$WORK/$1/settings.d" "$2" "$WORK/$1/proxy-file.log" >"$WORK/$1/settings.yml"
  echo "$WORK/$1"
}

echo "building smart-proxy..."
(cd "$ROOT" && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy)

# --- BIND: zone example.test with ZONE_RECORDS static hosts, updates with a TSIG key.
BIND_PORT=$(free_port)
mkdir -p "$WORK/bind"
tsig-keygen -a hmac-sha256 ddns-key >"$WORK/bind/ddns.key"
{
  printf '$TTL 300\n@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 300\n@ IN NS ns1.example.test.\nns1 IN A 127.0.0.1\n'
  for i in $(seq "$ZONE_RECORDS"); do printf 'static%d IN A 10.98.%d.%d\n' "$i" $((i / 250)) $((i % 250 + 1)); done
} >"$WORK/bind/example.test.zone"
cat >"$WORK/bind/named.conf" <<EOF
include "$WORK/bind/ddns.key";
options { directory "$WORK/bind"; pid-file "$WORK/bind/named.pid"; session-keyfile "$WORK/bind/session.key";
  listen-on port $BIND_PORT { 127.0.0.1; }; listen-on-v6 { none; }; recursion no; dnssec-validation no; notify no; };
controls { };
logging { category default { null; }; category update { null; }; };
zone "example.test" { type primary; file "$WORK/bind/example.test.zone"; allow-update { key "ddns-key"; }; };
EOF
named -g -c "$WORK/bind/named.conf" >"$WORK/bind/named.log" 2>&1 &
PIDS+=($!)
wait_dns "$BIND_PORT"

# --- 1a. The Ruby way: one nsupdate process per record, CONCURRENCY at a time.
echo "creating $RUBY_RECORDS records with one nsupdate -k process each ($CONCURRENCY at a time)..."
ruby_worker() {
  local w=$1
  for ((i = w; i <= RUBY_RECORDS; i += CONCURRENCY)); do
    printf 'server 127.0.0.1 %s\nupdate add ruby%d.example.test. 300 A 10.97.%d.%d\nsend\n' \
      "$BIND_PORT" "$i" $((i / 250)) $((i % 250 + 1)) | nsupdate -k "$WORK/bind/ddns.key" || echo "nsupdate failed for ruby$i" >&2
  done
}
start=$(date +%s.%N)
for ((w = 1; w <= CONCURRENCY; w++)); do ruby_worker "$w" & done
wait_pids=$(jobs -p | grep -v -F -x -e "${PIDS[@]}" || true)
for pid in $wait_pids; do wait "$pid"; done
end=$(date +%s.%N)
RUBY_RATE=$(echo "$RUBY_RECORDS / ($end - $start)" | bc -l)
[ "$(dig +short @127.0.0.1 -p "$BIND_PORT" "ruby$RUBY_RECORDS.example.test" A)" != "" ] || { echo "nsupdate records missing in BIND" >&2; exit 1; }

# --- 1b. Ours: POST /dns with dns_nsupdate against the same BIND, wrk with CONCURRENCY connections.
API_PORT=$(free_port)
DIR=$(proxy_dir nsupdate "$API_PORT")
printf ':enabled: true\n:use_provider: dns_nsupdate\n:dns_ttl: 300\n' >"$DIR/settings.d/dns.yml"
printf ':dns_server: 127.0.0.1:%s\n:dns_key: %s\n' "$BIND_PORT" "$WORK/bind/ddns.key" >"$DIR/settings.d/dns_nsupdate.yml"
start_proxy "$DIR" "$API_PORT"
cat >"$WORK/create.lua" <<'EOF'
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local n = 0
function request()
  n = n + 1
  local body = string.format("fqdn=api-%d-%d.example.test&value=10.%d.%d.%d&type=A",
    tid, n, 100 + tid, math.floor(n / 250) % 250, n % 250 + 1)
  return wrk.format("POST", "/dns/", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
EOF
echo "creating records through POST /dns with dns_nsupdate for ${DURATION}s ($CONCURRENCY connections)..."
wrk -t 2 -c "$CONCURRENCY" -d "${DURATION}s" -s "$WORK/create.lua" "http://127.0.0.1:$API_PORT" >"$WORK/wrk.txt"
total=$(awk '/requests in/ {print $1}' "$WORK/wrk.txt")
failed=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.txt")
failed=${failed:-0}
secs=$(awk '/requests in/ {gsub(/s,/, "", $4); print $4}' "$WORK/wrk.txt")
API_RATE=$(echo "($total - $failed) / $secs" | bc -l)
# (wrk builds one request per thread before starting: the first name sent is api-0-2)
[ "$(dig +short @127.0.0.1 -p "$BIND_PORT" "api-0-2.example.test" A)" = "10.100.0.3" ] || { echo "API records missing in BIND" >&2; cat "$WORK/wrk.txt" >&2; exit 1; }
CREATE_RATIO=$(echo "$API_RATE / $RUBY_RATE" | bc -l)
printf 'creates: api+dns_nsupdate %.0f/s (%s requests, %s failed), one nsupdate process per record %.1f/s\n' "$API_RATE" "$total" "$failed" "$RUBY_RATE"
printf 'creates ratio=%.1f (goal >= 20)\n' "$CREATE_RATIO"

# --- 2. dnsperf: dns_embedded against BIND, same ZONE_RECORDS hosts.
EMB_DNS_PORT=$(free_port)
EMB_API_PORT=$(free_port)
DIR=$(proxy_dir embedded "$EMB_API_PORT")
printf ':enabled: true\n:use_provider: dns_embedded\n:dns_ttl: 300\n' >"$DIR/settings.d/dns.yml"
printf ':listen: 127.0.0.1:%s\n:state_dir: %s/state\n:zones: [example.test]\n:tsig_keys: [%s]\n' \
  "$EMB_DNS_PORT" "$DIR" "$WORK/bind/ddns.key" >"$DIR/settings.d/dns_embedded.yml"
start_proxy "$DIR" "$EMB_API_PORT"
echo "loading $ZONE_RECORDS records into dns_embedded with nsupdate -k..."
{
  printf 'server 127.0.0.1 %s\nzone example.test\n' "$EMB_DNS_PORT"
  printf 'update add ns1.example.test. 300 A 127.0.0.1\n'
  for i in $(seq "$ZONE_RECORDS"); do
    printf 'update add static%d.example.test. 300 A 10.98.%d.%d\n' "$i" $((i / 250)) $((i % 250 + 1))
    [ $((i % 200)) -eq 0 ] && printf 'send\n'
  done
  printf 'send\n'
} | nsupdate -k "$WORK/bind/ddns.key"
[ "$(dig +short @127.0.0.1 -p "$EMB_DNS_PORT" "static$ZONE_RECORDS.example.test" A)" = "$(dig +short @127.0.0.1 -p "$BIND_PORT" "static$ZONE_RECORDS.example.test" A)" ] ||
  { echo "dns_embedded and BIND disagree" >&2; exit 1; }

for i in $(seq "$ZONE_RECORDS"); do echo "static$i.example.test A"; done >"$WORK/queries.txt"
qps() {
  dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l "$DURATION" -c "$DNSPERF_CLIENTS" -q 200 >"$WORK/dnsperf-$1.txt" 2>&1
  awk '/Queries per second/ {print $4}' "$WORK/dnsperf-$1.txt"
}
echo "dnsperf against BIND and dns_embedded, ${DURATION}s each ($DNSPERF_CLIENTS clients)..."
BIND_QPS=$(qps "$BIND_PORT")
EMB_QPS=$(qps "$EMB_DNS_PORT")
grep -h "Queries lost" "$WORK/dnsperf-$BIND_PORT.txt" "$WORK/dnsperf-$EMB_DNS_PORT.txt" | sed 's/^ */  lost: /'
QPS_RATIO=$(echo "$EMB_QPS / $BIND_QPS" | bc -l)
printf 'qps: dns_embedded %.0f, BIND %.0f\n' "$EMB_QPS" "$BIND_QPS"
printf 'qps ratio=%.2f (goal >= 1.0)\n' "$QPS_RATIO"
