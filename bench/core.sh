#!/usr/bin/env bash
# Hosts created per second through foreman-core with full orchestration against one
# local smart proxy (the real binaries): every create runs the DHCP/DNS conflict
# pre-checks, DNS A and PTR (dns_embedded), the DHCP reservation (dhcp_embedded), the
# PXELinux, PXEGrub2 and iPXE configs rendered by core/provision (tftp), fetch_boot_file
# for kernel and initrd (served by a local mirror: the proxy's conditional GET gets a
# 304) and the build token, all acknowledged writes fsynced (proxy journals, SQLite
# WAL with synchronous=FULL, PostgreSQL synchronous_commit=on). bench/coreload runs 1,
# 5, 10 and 20 concurrent API clients (Satellite's host-creation levels) for DURATION
# each, on SQLite and then on PostgreSQL (skipped when its binaries are absent). Prints
# hosts/s, p50 and p99 per host for each; goal: >= 200 hosts/s.
#
# Environment: DURATION (default 10s), LEVELS (default "1 5 10 20"), DATABASES
# (default "sqlite postgres").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10s}
LEVELS=${LEVELS:-1 5 10 20}
DATABASES=${DATABASES:-sqlite postgres}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PASSWORD=bench-admin-password

command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is not installed" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"

echo "building smart-proxy, foreman-core and coreload..."
(cd "$ROOT" && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy && go build -o "$WORK/foreman-core" ./cmd/foreman-core &&
  go build -o "$WORK/coreload" ./bench/coreload)

# The installation tree the medium points at: a kernel and an initrd.
MIRROR_PORT=$(free_port)
mkdir -p "$WORK/mirror/rocky/9.4/BaseOS/x86_64/os/images/pxeboot"
head -c 65536 /dev/urandom >"$WORK/mirror/rocky/9.4/BaseOS/x86_64/os/images/pxeboot/vmlinuz"
head -c 65536 /dev/urandom >"$WORK/mirror/rocky/9.4/BaseOS/x86_64/os/images/pxeboot/initrd.img"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/mirror" "$MIRROR_PORT" >"$WORK/mirror.log" 2>&1 &
PIDS+=($!)

wait_for() { # wait_for URL PID LOG...: until URL answers 2xx
  local url=$1 pid=$2; shift 2
  for _ in $(seq 300); do
    curl -fsS -o /dev/null -u "admin:$PASSWORD" "$url" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { echo "process $pid exited:" >&2; cat "$@" >&2; exit 1; }
    sleep 0.1
  done
  echo "$url did not answer" >&2; cat "$@" >&2; exit 1
}

# start_proxy DIR: a fresh proxy (dhcp, dns, tftp on http) with its state in DIR.
start_proxy() {
  local dir=$1
  PROXY_PORT=$(free_port)
  mkdir -p "$dir/settings.d" "$dir/tftp"
  printf ':settings_directory: %s\n:bind_host: ["127.0.0.1"]\n:http_port: %s\n:log_file: %s\n:log_level: WARN\n' \
    "$dir/settings.d" "$PROXY_PORT" "$dir/proxy-file.log" >"$dir/settings.yml"
  printf ':enabled: true\n:ping_free_ip: false\n' >"$dir/settings.d/dhcp.yml"
  printf ':listen: 127.0.0.1:%s\n:state_dir: %s/dhcp\n:fsync: true\n:subnets:\n  - :network: 10.200.0.0\n    :netmask: 255.255.0.0\n' \
    "$(free_port)" "$dir" >"$dir/settings.d/dhcp_embedded.yml"
  printf ':enabled: true\n:use_provider: dns_embedded\n' >"$dir/settings.d/dns.yml"
  DNS_PORT=$(free_port)
  printf ':listen: 127.0.0.1:%s\n:state_dir: %s/dns\n:zones: [example.test, 200.10.in-addr.arpa]\n' "$DNS_PORT" "$dir" \
    >"$dir/settings.d/dns_embedded.yml"
  printf ':enabled: true\n:tftproot: %s/tftp\n:listen: false\n' "$dir" >"$dir/settings.d/tftp.yml"
  "$WORK/smart-proxy" --settings "$dir/settings.yml" >"$dir/proxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
  for _ in $(seq 200); do
    features=$(curl -fsS "http://127.0.0.1:$PROXY_PORT/features" 2>/dev/null || true)
    [[ $features == *dhcp* && $features == *dns* && $features == *tftp* ]] && return 0
    sleep 0.05
  done
  echo "smart-proxy did not start dhcp, dns and tftp: $features" >&2; cat "$dir/proxy.log" "$dir/proxy-file.log" >&2; exit 1
}

# start_core DIR DATABASE
start_core() {
  local dir=$1 database=$2
  CORE_PORT=$(free_port)
  mkdir -p "$dir/core"
  cat >"$dir/core.yml" <<EOF
bind_host: 127.0.0.1
http_port: $CORE_PORT
https_port: 0
state_dir: $dir/core
database: $database
admin_login: admin
admin_password: $PASSWORD
unattended_url: http://127.0.0.1:$CORE_PORT
dns_conflict_servers: ["127.0.0.1:$DNS_PORT"]
log_level: WARN
log_file: $dir/core.log
EOF
  "$WORK/foreman-core" --config "$dir/core.yml" >"$dir/core.out" 2>&1 &
  CORE_PID=$!
  PIDS+=("$CORE_PID")
  wait_for "http://127.0.0.1:$CORE_PORT/api/v2/domains" "$CORE_PID" "$dir/core.out" "$dir/core.log"
}

api() { # api METHOD PATH JSON: prints the id of the record
  curl -fsS -u "admin:$PASSWORD" -X "$1" -H 'Content-Type: application/json' -H 'Accept: application/json' \
    "http://127.0.0.1:$CORE_PORT/api/v2$2" -d "$3" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}

# start_postgres DIR: a throwaway cluster at PG_URL, stopped by stop_postgres.
PG_DATA=
start_postgres() {
  local dir=$1 port
  port=$(free_port)
  mkdir -p "$dir/pg" && chown postgres "$dir" "$dir/pg"
  su postgres -c "$PGBIN/initdb -D $dir/pg/data -A trust -U postgres" >"$dir/pg-init.log" 2>&1
  su postgres -c "$PGBIN/pg_ctl -D $dir/pg/data -o '-p $port -k $dir/pg -c listen_addresses=127.0.0.1' -l $dir/pg/pg.log -w start" \
    >>"$dir/pg-init.log" 2>&1
  PG_DATA=$dir/pg/data
  PG_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  PG_PORT=$port
}
# pg_transactions: transactions committed so far (each statement outside a transaction
# is one), to tell how many database round trips a host costs.
pg_transactions() {
  sleep 1 # backends report their counters about once a second
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"
}
stop_postgres() {
  [ -n "$PG_DATA" ] && su postgres -c "$PGBIN/pg_ctl -D $PG_DATA -m fast -w stop" >/dev/null 2>&1 || true
  PG_DATA=
}
trap 'stop_postgres; cleanup' EXIT

# cpu_ms PID...: CPU time (user + system) the processes used so far, in ms.
cpu_ms() {
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}

# db_pids: the PostgreSQL server processes (none for SQLite, which runs in the core).
db_pids() {
  [ -n "$PG_DATA" ] || return 0
  local main
  main=$(head -1 "$PG_DATA/postmaster.pid")
  echo "$main" $(ps -o pid= --ppid "$main")
}

# step_times prints the mean time of each orchestration step over the last hosts
# created (from their served task lists: a step lasts until the next one starts).
step_times() {
  local last=$1
  python3 - "http://127.0.0.1:$CORE_PORT" "$PASSWORD" "$last" <<'PY'
import base64, collections, datetime, json, sys, urllib.request
base, password, last = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = "Basic " + base64.b64encode(("admin:" + password).encode()).decode()
def get(path):
    req = urllib.request.Request(base + path, headers={"Authorization": auth, "Accept": "application/json"})
    return json.load(urllib.request.urlopen(req))
def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
total = collections.defaultdict(float)
order = []
hosts = 0
for n in range(max(0, last - 50), last):
    try:
        run = get("/api/v2/hosts/load%06d.example.test/tasks" % n)
    except Exception:
        continue
    tasks = run["tasks"]
    hosts += 1
    for a, b in zip(tasks, tasks[1:]):
        step = a["name"].replace(run["host"], "").replace(" for ", "").strip()
        if step not in order:
            order.append(step)
        total[step] += (ts(b["timestamp"]) - ts(a["timestamp"])).total_seconds() * 1000
if hosts:
    print("  mean step times over %d hosts (ms): " % hosts + ", ".join("%s %.1f" % (s, total[s] / hosts) for s in order))
PY
}

RESULTS=()
BASELINES=()
BASELINE_CLIENTS=${BASELINE_CLIENTS:-10}
for db in $DATABASES; do
  dir="$WORK/$db"
  mkdir -p "$dir"
  case $db in
    sqlite) database=$dir/core/foreman-core.db ;;
    postgres)
      if [ ! -x "$PGBIN/initdb" ] || ! id postgres >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
        echo "postgres: skipped ($PGBIN/initdb, the postgres user and root are needed)"; continue
      fi
      chmod 755 "$WORK"
      start_postgres "$dir"
      database=$PG_URL ;;
  esac
  start_proxy "$dir"
  start_core "$dir" "$database"
  proxy_id=$(api POST /smart_proxies "{\"smart_proxy\":{\"name\":\"bench\",\"url\":\"http://127.0.0.1:$PROXY_PORT\"}}")
  domain=$(api POST /domains "{\"domain\":{\"name\":\"example.test\",\"dns_id\":$proxy_id}}")
  subnet=$(api POST /subnets "{\"subnet\":{\"name\":\"bench\",\"network\":\"10.200.0.0\",\"mask\":\"255.255.0.0\",\"ipam\":\"None\",
    \"dhcp_id\":$proxy_id,\"tftp_id\":$proxy_id,\"dns_id\":$proxy_id,\"domain_ids\":[$domain]}}")
  arch=$(api POST /architectures '{"architecture":{"name":"x86_64"}}')
  os=$(api POST /operatingsystems "{\"operatingsystem\":{\"name\":\"Rocky\",\"major\":\"9\",\"minor\":\"4\",\"family\":\"Redhat\",
    \"pxe_loaders\":[\"PXELinux BIOS\"],\"architecture_ids\":[$arch]}}")
  medium=$(api POST /media "{\"medium\":{\"name\":\"Rocky mirror\",\"os_family\":\"Redhat\",\"operatingsystem_ids\":[$os],
    \"path\":\"http://127.0.0.1:$MIRROR_PORT/rocky/\$version/BaseOS/\$arch/os\"}}")
  offset=0
  for c in $LEVELS; do
    [ "$db" = postgres ] && tx_before=$(pg_transactions)
    cpu_before=("$(cpu_ms "$CORE_PID")" "$(cpu_ms "$PROXY_PID")" "$(cpu_ms $(db_pids))")
    line=$("$WORK/coreload" -url "http://127.0.0.1:$CORE_PORT" -password "$PASSWORD" -c "$c" -d "$DURATION" \
      -offset "$offset" -n 15000 -domain "$domain" -subnet "$subnet" -os "$os" -medium "$medium" -arch "$arch")
    echo "$db: $line"
    RESULTS+=("$db $line")
    created=$(awk '{ print $4 }' <<<"$line")
    cpu_after=("$(cpu_ms "$CORE_PID")" "$(cpu_ms "$PROXY_PID")" "$(cpu_ms $(db_pids))")
    if [ "$created" -gt 0 ]; then
      awk -v n="$created" -v c="$((cpu_after[0] - cpu_before[0]))" -v p="$((cpu_after[1] - cpu_before[1]))" \
        -v d="$((cpu_after[2] - cpu_before[2]))" 'BEGIN {
        printf "  CPU per host: core %.1f ms, proxy %.1f ms, PostgreSQL %.1f ms (%.1f ms in all: %.0f hosts/s on 2 idle cores)\n",
          c / n, p / n, d / n, (c + p + d) / n, 2000 / ((c + p + d) / n) }'
    fi
    if [ "$db" = postgres ] && [ "$created" -gt 0 ]; then
      echo "  $(( ($(pg_transactions) - tx_before) / created )) database transactions per host"
    fi
    step_times $((offset + created))
    offset=$((offset + 15000))
  done
  # The floor without proxies: the same API creates with no domain and subnet, so the
  # orchestrator asks no proxy (API, validation, row, task list, answer only).
  line=$("$WORK/coreload" -url "http://127.0.0.1:$CORE_PORT" -password "$PASSWORD" -c "$BASELINE_CLIENTS" -d "$DURATION" \
    -prefix bare -network 10.201 -n 15000 -loader "" -build=false)
  echo "$db: no proxy work: $line"
  BASELINES+=("$db $line")
  # Every orchestrated host must be on the proxy: count the reservations.
  hosts=$(curl -fsS -u "admin:$PASSWORD" "http://127.0.0.1:$CORE_PORT/api/v2/hosts?per_page=1&search=domain%3Dexample.test" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["subtotal"])')
  reservations=$(curl -fsS "http://127.0.0.1:$PROXY_PORT/dhcp/10.200.0.0" |
    python3 -c 'import json, sys; print(len(json.load(sys.stdin)["reservations"]))')
  echo "$db: $hosts hosts stored, $reservations DHCP reservations on the proxy"
  [ "$hosts" = "$reservations" ] || { echo "hosts and reservations differ" >&2; exit 1; }
  kill -TERM "$CORE_PID" "$PROXY_PID"; wait "$CORE_PID" "$PROXY_PID" 2>/dev/null || true
  [ "$db" = postgres ] && stop_postgres
done

echo
echo "database clients hosts/s p50 p99"
for r in "${RESULTS[@]}"; do
  # <db> clients <c> hosts <n> ok <rate>/s p50 <ms> ms p99 <ms> ms max <ms> ms failed <n>
  awk '{ rate = $7; sub(/\/s$/, "", rate); printf "%-8s %7s %7.0f %6.1f ms %6.1f ms\n", $1, $3, rate, $9, $12 }' <<<"$r"
done
for r in "${BASELINES[@]}"; do
  awk '{ rate = $7; sub(/\/s$/, "", rate); printf "%-8s %7s %7.0f %6.1f ms %6.1f ms  (no proxy work: the floor of API and database)\n", $1, $3, rate, $9, $12 }' <<<"$r"
done
best=$(printf '%s\n' "${RESULTS[@]}" | awk '{ rate = $7; sub(/\/s$/, "", rate); if (rate + 0 > m) m = rate + 0 } END { printf "%.0f", m }')
echo "best: $best hosts/s (goal >= 200: $([ "$best" -ge 200 ] && echo met || echo NOT met))"
