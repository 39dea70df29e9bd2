// Package bindtest runs the real DNS peers the dns tests talk to: a BIND named on
// 127.0.0.1 with a TSIG key and dynamic zones in a temp dir, and the dig and nsupdate
// clients. A test that needs a peer binary skips when it is not installed.
package bindtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// KeyName is the TSIG key every test server accepts updates with.
const KeyName = "ddns-key"

// Named is a running BIND server.
type Named struct {
	Addr    string // 127.0.0.1:port
	Port    int
	Dir     string
	KeyFile string // the key file named trusts (tsig-keygen output)
	Zones   []string
	Log     string // named's stderr
}

// Need skips t unless every binary is installed.
func Need(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("%s is not installed (Debian packages bind9, bind9-dnsutils): %v", b, err)
		}
	}
}

// StartNamed starts named as primary for zones (the first one forward, holding the
// name server's address), allowing updates signed with KeyName. It is stopped when
// the test ends.
func StartNamed(t testing.TB, zones ...string) *Named {
	t.Helper()
	Need(t, "named", "tsig-keygen")
	dir := t.TempDir()
	n := &Named{Dir: dir, Zones: zones, Port: FreePort(t), KeyFile: filepath.Join(dir, "ddns.key"), Log: filepath.Join(dir, "named.log")}
	n.Addr = fmt.Sprintf("127.0.0.1:%d", n.Port)
	key, err := exec.Command("tsig-keygen", "-a", "hmac-sha256", KeyName).Output()
	if err != nil {
		t.Fatalf("tsig-keygen: %v", err)
	}
	write(t, n.KeyFile, string(key))
	var conf strings.Builder
	fmt.Fprintf(&conf, `include "%s";
options {
	directory "%s"; pid-file "%s/named.pid"; session-keyfile "%s/session.key";
	listen-on port %d { 127.0.0.1; }; listen-on-v6 { none; };
	recursion no; dnssec-validation no; notify no;
};
controls { };
logging { category update { null; }; };
`, n.KeyFile, dir, dir, dir, n.Port)
	for _, z := range zones {
		file := filepath.Join(dir, z+".zone")
		write(t, file, ZoneFile(z, zones[0]))
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; allow-update { key %q; }; };\n", z, file, KeyName)
	}
	confPath := filepath.Join(dir, "named.conf")
	write(t, confPath, conf.String())
	logFile, err := os.Create(n.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("named", "-g", "-c", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting named: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("named exited: %v\n%s", err, readFile(n.Log))
		default:
		}
		if r, err := Query(n.Addr, zones[0], dns.TypeSOA); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("named did not answer on %s within 20s\n%s", n.Addr, readFile(n.Log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ZoneFile is a minimal zone whose name server is ns1.<forward>. at 127.0.0.1.
func ZoneFile(zone, forward string) string {
	s := fmt.Sprintf("$TTL 300\n@ IN SOA ns1.%s. hostmaster.%s. 1 3600 600 86400 300\n@ IN NS ns1.%s.\n", forward, forward, forward)
	if zone == forward {
		s += "ns1 IN A 127.0.0.1\n"
	}
	return s
}

// Query asks addr one question over UDP, falling back to TCP on truncation.
func Query(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: 5 * time.Second} // a loaded machine answers late, not never
	r, _, err := c.Exchange(m, addr)
	if err == nil && r.Truncated {
		c.Net = "tcp"
		r, _, err = c.Exchange(m, addr)
	}
	return r, err
}

// FreePort returns a port free for both UDP and TCP on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP on 127.0.0.1")
	return 0
}

// Dig runs "dig +short @127.0.0.1 -p port args..." and returns its trimmed output.
func Dig(t testing.TB, port int, args ...string) string {
	t.Helper()
	Need(t, "dig")
	all := append([]string{"+short", "+time=5", "+tries=2", "@127.0.0.1", "-p", fmt.Sprint(port)}, args...)
	out, err := exec.Command("dig", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", all, err, out)
	}
	return strings.TrimSpace(string(out))
}

// DigStatus runs dig without +short and returns the header's status (NOERROR, NXDOMAIN, ...).
func DigStatus(t testing.TB, port int, args ...string) string {
	t.Helper()
	Need(t, "dig")
	all := append([]string{"+time=5", "+tries=2", "@127.0.0.1", "-p", fmt.Sprint(port)}, args...)
	out, err := exec.Command("dig", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", all, err, out)
	}
	s := string(out)
	i := strings.Index(s, "status: ")
	if i < 0 {
		t.Fatalf("dig %v printed no status:\n%s", all, out)
	}
	return strings.TrimRight(strings.Fields(s[i+len("status: "):])[0], ",")
}

// Nsupdate feeds script to "nsupdate [-k keyFile]" and returns its output.
func Nsupdate(t testing.TB, keyFile, script string) (string, error) {
	t.Helper()
	Need(t, "nsupdate")
	var args []string
	if keyFile != "" {
		args = append(args, "-k", keyFile)
	}
	cmd := exec.Command("nsupdate", args...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// OtherKey writes a key file with KeyName and a secret named does not know.
func OtherKey(t testing.TB) string {
	t.Helper()
	Need(t, "tsig-keygen")
	key, err := exec.Command("tsig-keygen", "-a", "hmac-sha256", KeyName).Output()
	if err != nil {
		t.Fatalf("tsig-keygen: %v", err)
	}
	path := filepath.Join(t.TempDir(), "wrong.key")
	write(t, path, string(key))
	return path
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
