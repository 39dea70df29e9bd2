#!/usr/bin/env bash
# TFTP benchmark: our embedded server against tftpd-hpa in the same run, same files,
# same clients, on loopback.
#  1. 50 MB with curl at blksize 1468 (lockstep).              Goal: ratio >= 1.2
#  2. 50 MB with atftp at blksize 1468 (lockstep).             Goal: ratio >= 1.2
#  3. 50 MB with atftp at blksize 1468 and windowsize 16. tftpd-hpa has no RFC 7440,
#     so it answers in lockstep: the ratio is against that.   Goal: ratio >= 4
#  4. CLIENTS concurrent clients x 5 MB at blksize 1468, aggregate MB/s: curl processes,
#     atftp processes, and bench/tftpload (one Go process).    Goal: ratio >= 1.5
# Each case runs RUNS (CONC_RUNS for case 4) times per server, alternating, and reports
# the median (the machine is shared; the median ignores the odd slow run).
#
# Environment: RUNS (default 5), CONC_RUNS (default 3), CLIENTS (default 200),
# BIG_MB (default 50), SMALL_MB (default 5), CASES (default "curl atftp ws16 concurrent
# concurrent-atftp load"). Needs root (tftpd-hpa chroots), curl,
# atftp, in.tftpd.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
CONC_RUNS=${CONC_RUNS:-3}
CLIENTS=${CLIENTS:-200}
BIG_MB=${BIG_MB:-50}
SMALL_MB=${SMALL_MB:-5}
CASES=${CASES:-"curl atftp ws16 concurrent concurrent-atftp load"}

for bin in curl atftp in.tftpd python3 go; do
  command -v "$bin" >/dev/null || { echo "$bin is not installed (apt-get install curl atftp tftpd-hpa)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run as root: tftpd-hpa needs it to chroot into the root" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"

# now_ns prints a monotonic-enough wall clock in nanoseconds.
now_ns() { date +%s%N; }

mkdir -p "$WORK/tftpboot" "$WORK/dl" "$WORK/settings.d"
head -c $((BIG_MB * 1000000)) /dev/urandom >"$WORK/tftpboot/big.bin"
head -c $((SMALL_MB * 1000000)) /dev/urandom >"$WORK/tftpboot/small.bin"
BIG_SUM=$(sha256sum <"$WORK/tftpboot/big.bin" | cut -d' ' -f1)
SMALL_SUM=$(sha256sum <"$WORK/tftpboot/small.bin" | cut -d' ' -f1)

echo "building smart-proxy..."
(cd "$ROOT" && go build -o "$WORK/smart-proxy" ./cmd/smart-proxy && go build -o "$WORK/tftpload" ./bench/tftpload)

OURS=$(free_port)
HPA=$(free_port)
HTTP=$(free_port)
printf ':settings_directory: %s\n:bind_host: ["127.0.0.1"]\n:http_port: %s\n:log_file: %s\n:log_level: INFO\n' \
  "$WORK/settings.d" "$HTTP" "$WORK/proxy-file.log" >"$WORK/settings.yml"
printf ':enabled: true\n:tftproot: %s\n:listen: 127.0.0.1:%s\n:max_transfers: %s\n' \
  "$WORK/tftpboot" "$OURS" $((CLIENTS + 50)) >"$WORK/settings.d/tftp.yml"
"$WORK/smart-proxy" --settings "$WORK/settings.yml" >"$WORK/proxy.log" 2>&1 &
OURS_PID=$!
PIDS+=("$OURS_PID")
in.tftpd -L -u root -a "127.0.0.1:$HPA" -s "$WORK/tftpboot" &
HPA_PID=$!
PIDS+=("$HPA_PID")
for _ in $(seq 200); do
  curl -fsS "http://127.0.0.1:$HTTP/features" 2>/dev/null | grep -q '"tftp"' && break
  sleep 0.05
done
curl -fsS "http://127.0.0.1:$HTTP/features" | grep -q '"tftp"' || { cat "$WORK/proxy.log" >&2; exit 1; }

# fetch PORT KIND OUT: one client run; KIND is curl, atftp or atftp-ws16.
fetch() {
  case $2 in
    curl) curl -sS --tftp-blksize 1468 -o "$3" "tftp://127.0.0.1:$1/big.bin" ;;
    atftp) atftp --get -r big.bin -l "$3" --option "blksize 1468" 127.0.0.1 "$1" >/dev/null 2>&1 ;;
    atftp-ws16) atftp --get -r big.bin -l "$3" --option "blksize 1468" --option "windowsize 16" 127.0.0.1 "$1" >/dev/null 2>&1 ;;
  esac
}

# median of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# mbps BYTES NANOSECONDS
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN {printf "%.1f", b / 1e6 / (ns / 1e9)}'; }

# single KIND: median MB/s of ours and tftpd-hpa for one client kind.
single() {
  local kind=$1 ours=() hpa=() t0 out
  for run in $(seq "$RUNS"); do
    for server in ours hpa; do
      port=$OURS; [ $server = hpa ] && port=$HPA
      hpa_kind=$kind; [ $server = hpa ] && [ "$kind" = atftp-ws16 ] && hpa_kind=atftp
      out="$WORK/dl/$server-$kind"
      rm -f "$out"
      t0=$(now_ns)
      fetch "$port" "$hpa_kind" "$out"
      elapsed=$(($(now_ns) - t0))
      if [ "$run" = 1 ] && [ "$(sha256sum <"$out" | cut -d' ' -f1)" != "$BIG_SUM" ]; then
        echo "$server $kind: sha256 mismatch" >&2
        exit 1
      fi
      if [ $server = ours ]; then ours+=("$elapsed"); else hpa+=("$elapsed"); fi
    done
  done
  local o h
  o=$(printf '%s\n' "${ours[@]}" | median)
  h=$(printf '%s\n' "${hpa[@]}" | median)
  local om hm
  om=$(mbps $((BIG_MB * 1000000)) "$o")
  hm=$(mbps $((BIG_MB * 1000000)) "$h")
  printf '%-34s ours %7s MB/s   tftpd-hpa %7s MB/s   ratio=%s\n' "$2" "$om" "$hm" "$(awk -v a="$om" -v b="$hm" 'BEGIN {printf "%.2f", a / b}')"
}

# busy_ticks: CPU ticks the whole machine spent busy so far.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# server_ticks PID: CPU ticks of PID and its reaped children (tftpd-hpa forks per transfer).
server_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

# server_pss PID: proportional set size in kB of PID and its children (tftpd-hpa's
# forked transfers), shared pages split between the processes that map them.
# One cat and one awk for all of them, so sampling 200 processes costs three process
# starts; files of processes gone meanwhile (or zombies, whose file is empty) add nothing.
server_pss() {
  local files=() p
  for p in "$1" $(pgrep -P "$1"); do files+=("/proc/$p/smaps_rollup"); done
  { cat "${files[@]}" 2>/dev/null || true; } | awk '/^Pss:/ {s += $2} END {print s + 0}'
}

# sample_pss PID FILE: writes the largest server_pss seen every 0.5 s to FILE until killed.
sample_pss() {
  local peak=0 now
  while true; do
    now=$(server_pss "$1")
    if [ "${now:-0}" -gt "$peak" ]; then peak=$now; echo "$peak" >"$2"; fi
    sleep 0.5
  done
}

# concurrent KIND PORT PID: prints the wall time in ns for CLIENTS parallel clients
# fetching small.bin (KIND curl or atftp: one process each; tftpload: one goroutine
# each in one process), the server's CPU ticks and the whole machine's busy ticks.
concurrent() {
  local t0 pids=() failed=0 s0 b0 short sampler
  rm -f "$WORK"/dl/c-*
  echo 0 >"$WORK/pss"
  sample_pss "$3" "$WORK/pss" &
  sampler=$!
  s0=$(server_ticks "$3") b0=$(busy_ticks)
  t0=$(now_ns)
  if [ "$1" = tftpload ]; then
    "$WORK/tftpload" -server "127.0.0.1:$2" -file small.bin -clients "$CLIENTS" -blksize 1468 \
      -size $((SMALL_MB * 1000000)) -sha256 "$SMALL_SUM" >/dev/null || failed=1
    short=0
  else
    for i in $(seq "$CLIENTS"); do
      if [ "$1" = atftp ]; then
        atftp --get -r small.bin -l "$WORK/dl/c-$i" --option "blksize 1468" 127.0.0.1 "$2" >/dev/null 2>&1 &
      else
        curl -sS --tftp-blksize 1468 -o "$WORK/dl/c-$i" "tftp://127.0.0.1:$2/small.bin" &
      fi
      pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
    short=$(find "$WORK/dl" -name 'c-*' -size -$((SMALL_MB * 1000000))c | wc -l)
  fi
  local elapsed=$(($(now_ns) - t0))
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  [ "$failed" = 0 ] && [ "$short" = 0 ] || { echo "$1 on port $2: $failed clients failed, $short short files" >&2; exit 1; }
  echo "$elapsed $(($(server_ticks "$3") - s0)) $(($(busy_ticks) - b0)) $(cat "$WORK/pss")"
}

echo "files: ${BIG_MB} MB and ${SMALL_MB} MB; $RUNS runs per case, $CONC_RUNS concurrent (medians); ours on :$OURS, tftpd-hpa on :$HPA"
want() { [[ " $CASES " == *" $1 "* ]]; }
want curl && single curl "curl blksize 1468"
want atftp && single atftp "atftp blksize 1468"
want ws16 && single atftp-ws16 "atftp blksize 1468 windowsize 16"
total=$((CLIENTS * SMALL_MB * 1000000))
CLK_TCK=$(getconf CLK_TCK)
# cpu_per_gb TICKS: CPU seconds per GB served.
cpu_per_gb() { awk -v t="$1" -v hz="$CLK_TCK" -v b="$total" 'BEGIN {printf "%.1f", t / hz / (b / 1e9)}'; }

# aggregate KIND LABEL: median aggregate MB/s of CONC_RUNS runs per server.
aggregate() {
  local os=() hs=() ocpu=() hcpu=() omem=() hmem=() ns st bt pss o h om hm
  for _ in $(seq "$CONC_RUNS"); do
    read -r ns st bt pss < <(concurrent "$1" "$OURS" "$OURS_PID")
    os+=("$ns") ocpu+=("$(cpu_per_gb "$st")/$(cpu_per_gb "$bt")") omem+=("$((pss / 1024))")
    read -r ns st bt pss < <(concurrent "$1" "$HPA" "$HPA_PID")
    hs+=("$ns") hcpu+=("$(cpu_per_gb "$bt")") hmem+=("$((pss / 1024))")
  done
  o=$(printf '%s\n' "${os[@]}" | median)
  h=$(printf '%s\n' "${hs[@]}" | median)
  om=$(mbps "$total" "$o")
  hm=$(mbps "$total" "$h")
  printf '%-34s ours %7s MB/s   tftpd-hpa %7s MB/s   ratio=%s\n' "$2" "$om" "$hm" \
    "$(awk -v a="$om" -v b="$hm" 'BEGIN {printf "%.2f", a / b}')"
  # tftpd-hpa's per-transfer children are not reaped into its own CPU count.
  echo "  CPU s/GB per run: ours server/machine ${ocpu[*]}; tftpd-hpa machine ${hcpu[*]}"
  echo "  peak server memory (PSS, MB) per run: ours ${omem[*]}; tftpd-hpa with its children ${hmem[*]}"
}

want concurrent && aggregate curl "$CLIENTS curl clients x ${SMALL_MB} MB"
want concurrent-atftp && aggregate atftp "$CLIENTS atftp clients x ${SMALL_MB} MB"
want load && aggregate tftpload "$CLIENTS tftpload clients x ${SMALL_MB} MB"
exit 0
