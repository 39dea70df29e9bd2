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
