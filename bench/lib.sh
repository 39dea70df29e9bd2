# Shared by the bench scripts (source it): a temporary work dir removed on exit, the
# background processes to stop on exit, and free loopback ports.

WORK=${WORK:-$(mktemp -d)}
PIDS=()

# cleanup stops every PID in PIDS (SIGTERM, then waits) and removes WORK.
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port free for both TCP and UDP.
free_port() {
  python3 -c 'import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()'
}

# wrk_summary reads the output of `wrk --latency` on stdin and prints "<req/s> <p99 in ms>".
wrk_summary() {
  awk '
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" {
      v = $2
      if (v ~ /us$/) { sub(/us$/, "", v); ms = v / 1000 }
      else if (v ~ /ms$/) { sub(/ms$/, "", v); ms = v }
      else if (v ~ /s$/) { sub(/s$/, "", v); ms = v * 1000 }
    }
    END { printf "%.0f %.3f\n", rps, ms }
  '
}

# memory PID prints "<RSS MiB> <PSS MiB>" of one process, from /proc/PID/smaps_rollup.
memory() {
  awk '$1 == "Rss:" { rss = $2 } $1 == "Pss:" { pss = $2 } END { printf "%.1f %.1f\n", rss / 1024, pss / 1024 }' "/proc/$1/smaps_rollup"
}

# start_etcd3 TOKEN [PREFIX...] starts a 3-member etcd cluster on loopback (plain http,
# heartbeat 100 ms, election 1 s; data and logs in $WORK/etcd0..2), each member run as
# PREFIX etcd ... (taskset, say), adds the members to PIDS, sets ETCD_EPS to their
# comma-separated client URLs and waits until the cluster is healthy (30 s at most;
# else exit 1 with the members' last log lines).
start_etcd3() {
  local token=$1 i peers="" healthy="" ep=()
  shift
  local prefix=("$@")
  ETCD_EPS=""
  for i in 0 1 2; do ep+=("$(free_port) $(free_port)"); done
  for i in 0 1 2; do set -- ${ep[$i]}; peers="$peers${peers:+,}m$i=http://127.0.0.1:$2"; done
  for i in 0 1 2; do
    set -- ${ep[$i]}
    mkdir -p "$WORK/etcd$i"
    "${prefix[@]}" etcd --name "m$i" --data-dir "$WORK/etcd$i/data" \
      --listen-client-urls "http://127.0.0.1:$1" --advertise-client-urls "http://127.0.0.1:$1" \
      --listen-peer-urls "http://127.0.0.1:$2" --initial-advertise-peer-urls "http://127.0.0.1:$2" \
      --initial-cluster "$peers" --initial-cluster-state new --initial-cluster-token "$token" \
      --heartbeat-interval 100 --election-timeout 1000 --logger zap --log-outputs "$WORK/etcd$i/etcd.log" 2>>"$WORK/etcd$i/stderr" &
    PIDS+=($!)
    ETCD_EPS="$ETCD_EPS${ETCD_EPS:+,}http://127.0.0.1:$1"
  done
  for _ in $(seq 60); do
    ETCDCTL_API=3 etcdctl --command-timeout 1s --endpoints "$ETCD_EPS" endpoint health >/dev/null 2>&1 && healthy=1 && break
    sleep 0.5
  done
  [ -n "$healthy" ] || { echo "etcd cluster not healthy" >&2; tail -3 "$WORK"/etcd*/etcd.log >&2; exit 1; }
}
