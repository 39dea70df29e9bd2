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
