package dhcp

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

const pingTimeout = time.Second

// isAlive reports whether something answers at ip, the way the Ruby proxy checks a
// candidate before suggesting it: a TCP connect to the echo port (a refusal also
// proves a host is there), then one ICMP echo.
func isAlive(ctx context.Context, ip netip.Addr) bool {
	return tcpAlive(ctx, ip) || icmpAlive(ctx, ip)
}

func tcpAlive(ctx context.Context, ip netip.Addr) bool {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(ip, 7).String())
	if err == nil {
		conn.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// icmpAlive sends one echo request, through a raw socket when we may open one (root)
// or an unprivileged ping socket; without either (the proxy's own user, ping sockets
// off) it runs ping(8), as the Ruby proxy does. When nothing can check, the address
// counts as alive: an unchecked address must not be suggested as free.
func icmpAlive(ctx context.Context, ip netip.Addr) bool {
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	privileged := err == nil
	if err != nil {
		if conn, err = icmp.ListenPacket("udp4", "0.0.0.0"); err != nil {
			return pingCommandAlive(ctx, ip)
		}
	}
	defer conn.Close()
	id, seq := rand.IntN(0xffff), rand.IntN(0xffff)
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("smart-proxy unused_ip")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return true
	}
	var dst net.Addr = &net.IPAddr{IP: ip.AsSlice()}
	if !privileged {
		dst = &net.UDPAddr{IP: ip.AsSlice()}
	}
	if _, err := conn.WriteTo(b, dst); err != nil {
		return false // no route: nothing there we could reach
	}
	deadline := time.Now().Add(pingTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return !errors.Is(err, os.ErrDeadlineExceeded)
		}
		reply, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || reply.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		echo, ok := reply.Body.(*icmp.Echo)
		// A ping socket rewrites the id, so only the sequence can be matched there.
		if !ok || echo.Seq != seq || (privileged && echo.ID != id) || !sameHost(from, ip) {
			continue
		}
		return true
	}
}

func sameHost(a net.Addr, ip netip.Addr) bool {
	switch t := a.(type) {
	case *net.IPAddr:
		return t.IP.Equal(ip.AsSlice())
	case *net.UDPAddr:
		return t.IP.Equal(ip.AsSlice())
	}
	return false
}

// pingCommandAlive runs "ping -c 1 -W 1": exit status 0 is a reply, 1 is none, and
// anything else (no ping installed) leaves the address unchecked, so alive.
func pingCommandAlive(ctx context.Context, ip netip.Addr) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*pingTimeout)
	defer cancel()
	err := exec.CommandContext(ctx, "ping", "-n", "-c", "1", "-W", "1", ip.String()).Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		return false
	}
	return true
}
