package embedded_test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// perfdhcpStats is what a perfdhcp run reports for one exchange kind.
type perfdhcpStats struct{ sent, received int }

var perfdhcpLine = regexp.MustCompile(`(?s)(DISCOVER-OFFER|REQUEST-ACK).*?sent packets: (\d+).*?received packets: (\d+)`)

// perfdhcp runs perfdhcp in the client namespace (as a relay: giaddr is its own
// address) and returns its counts per exchange.
func perfdhcp(t testing.TB, l *link, args ...string) (map[string]perfdhcpStats, string) {
	t.Helper()
	bin := requirePeer(t, "perfdhcp", "kea-admin")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"netns", "exec", l.clientNS, bin, "-4", "-l", l.clientIf}, args...)
	out, _ := exec.CommandContext(ctx, "ip", append(full, "all")...).CombinedOutput()
	stats := map[string]perfdhcpStats{}
	for _, m := range perfdhcpLine.FindAllStringSubmatch(string(out), -1) {
		sent, _ := strconv.Atoi(m[2])
		received, _ := strconv.Atoi(m[3])
		stats[m[1]] = perfdhcpStats{sent, received}
	}
	return stats, string(out)
}

func TestRelayedClientsFromPerfdhcp(t *testing.T) {
	l := newLink(t, "10.99.0.1/16", "10.99.0.2/16")
	startProxy(t, l, "")
	// -d 4: every client must be answered, but an answer a loaded machine delays past
	// perfdhcp's default 1 s is not lost (a real client waits 4 s, RFC 2131 §4.1).
	stats, out := perfdhcp(t, l, "-r", "100", "-n", "50", "-R", "50", "-d", "4", "-W", "2000000")
	for _, kind := range []string{"DISCOVER-OFFER", "REQUEST-ACK"} {
		if s := stats[kind]; s.sent == 0 || s.received != s.sent {
			t.Fatalf("perfdhcp %s: sent %d received %d\n%s", kind, s.sent, s.received, out)
		}
	}
}
