package nsupdate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dns/internal/bindtest"
	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// configure builds a provider from settings values, as the registry would.
func configure(t *testing.T, values map[string]any, timeouts ...int) (*Provider, error) {
	t.Helper()
	if len(timeouts) == 0 {
		timeouts = []int{2, 2}
	}
	sec := settings.NewSection("dns_nsupdate.yml", values)
	p := New()
	err := p.Configure(&registry.Env{
		Global:   &settings.Global{DNSResolvTimeouts: timeouts},
		Settings: sec,
		Log:      logrus.NewEntry(logrus.New()),
	})
	return p, errors.Join(err, sec.Err())
}

func startBIND(t *testing.T) (*bindtest.Named, *Provider) {
	t.Helper()
	named := bindtest.StartNamed(t, "example.test", "99.10.in-addr.arpa")
	p, err := configure(t, map[string]any{"dns_server": named.Addr, "dns_key": named.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	return named, p
}

func TestCreateLookupDeleteEveryType(t *testing.T) {
	named, p := startBIND(t)
	ctx := context.Background()
	records := []struct {
		rec     rr.Record
		digType string
		want    string
	}{
		{rr.Record{Name: "host1.example.test.", Type: rr.A, Value: "10.99.0.42", TTL: 300}, "A", "10.99.0.42"},
		{rr.Record{Name: "host1.example.test.", Type: rr.AAAA, Value: "2001:db8::42", TTL: 300}, "AAAA", "2001:db8::42"},
		{rr.Record{Name: "alias.example.test.", Type: rr.CNAME, Value: "host1.example.test.", TTL: 300}, "CNAME", "host1.example.test."},
		{rr.Record{Name: "42.0.99.10.in-addr.arpa.", Type: rr.PTR, Value: "host1.example.test.", TTL: 300}, "PTR", "host1.example.test."},
		{rr.Record{Name: "_ldap._tcp.example.test.", Type: rr.SRV, Value: "0 5 389 host1.example.test.", TTL: 300}, "SRV", "0 5 389 host1.example.test."},
	}
	for _, tc := range records {
		if err := p.Create(ctx, tc.rec); err != nil {
			t.Fatalf("Create(%s): %v", tc.rec, err)
		}
		if got := bindtest.Dig(t, named.Port, tc.rec.Name, tc.digType); got != tc.want {
			t.Errorf("dig %s %s = %q, want %q", tc.rec.Name, tc.digType, got, tc.want)
		}
		found, err := p.Lookup(ctx, tc.rec.Name, tc.rec.Type)
		if err != nil || len(found) != 1 || !rr.SameValue(tc.rec.Type, found[0].Value, tc.rec.Value) {
			t.Errorf("Lookup(%s %s) = %v, %v; want the created record", tc.rec.Name, tc.rec.Type, found, err)
		}
	}
	// A second A for the same name is refused by the update's prerequisite.
	err := p.Create(ctx, rr.Record{Name: "host1.example.test.", Type: rr.A, Value: "10.99.0.43", TTL: 300})
	var conflict *rr.ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("second A: err = %v, want a ConflictError", err)
	}
	if got := bindtest.Dig(t, named.Port, "host1.example.test", "A"); got != "10.99.0.42" {
		t.Errorf("after refused create: dig = %q, want only 10.99.0.42", got)
	}
	for _, tc := range records {
		if err := p.Delete(ctx, tc.rec.Name, tc.rec.Type); err != nil {
			t.Fatalf("Delete(%s %s): %v", tc.rec.Name, tc.rec.Type, err)
		}
		if got := bindtest.Dig(t, named.Port, tc.rec.Name, tc.digType); got != "" {
			t.Errorf("after delete, dig %s %s = %q, want nothing", tc.rec.Name, tc.digType, got)
		}
	}
	// Deleting what is not there is no error.
	if err := p.Delete(ctx, "nothing.example.test.", rr.A); err != nil {
		t.Errorf("Delete of a missing record: %v", err)
	}
}

func TestWrongKeyIsRefusedWithRcode(t *testing.T) {
	named, _ := startBIND(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		key   string
		rcode string
	}{
		{"other secret", bindtest.OtherKey(t), "NOTAUTH"},
		{"no key", "", "REFUSED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := map[string]any{"dns_server": named.Addr}
			if tc.key != "" {
				values["dns_key"] = tc.key
			}
			p, err := configure(t, values)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Create(ctx, rr.Record{Name: "denied.example.test.", Type: rr.A, Value: "10.99.0.9", TTL: 300})
			var uerr *rr.UpdateError
			if !errors.As(err, &uerr) || !strings.Contains(err.Error(), tc.rcode) {
				t.Fatalf("Create with %s: err = %v, want an update error naming %s", tc.name, err, tc.rcode)
			}
			if got := bindtest.Dig(t, named.Port, "denied.example.test", "A"); got != "" {
				t.Errorf("refused update changed BIND: dig = %q", got)
			}
		})
	}
}

// TestLookupFallsBackToTCP: 60 addresses do not fit a 512-byte UDP answer.
func TestLookupFallsBackToTCP(t *testing.T) {
	named, p := startBIND(t)
	var script strings.Builder
	fmt.Fprintf(&script, "server 127.0.0.1 %d\nzone example.test\n", named.Port)
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&script, "update add many.example.test. 300 A 10.99.1.%d\n", i)
	}
	script.WriteString("send\n")
	if out, err := bindtest.Nsupdate(t, named.KeyFile, script.String()); err != nil {
		t.Fatalf("nsupdate: %v\n%s", err, out)
	}
	q := new(dns.Msg)
	q.SetQuestion("many.example.test.", dns.TypeA)
	udp, _, err := new(dns.Client).Exchange(q, named.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if !udp.Truncated {
		t.Fatalf("the UDP answer (%d records) was not truncated; the test proves nothing", len(udp.Answer))
	}
	found, err := p.Lookup(context.Background(), "many.example.test.", rr.A)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 60 {
		t.Fatalf("Lookup found %d addresses, want 60", len(found))
	}
}

func TestUnknownZoneAndSilentServer(t *testing.T) {
	_, p := startBIND(t)
	ctx := context.Background()
	err := p.Create(ctx, rr.Record{Name: "host.elsewhere.test.", Type: rr.A, Value: "10.0.0.1", TTL: 300})
	if err == nil || !strings.Contains(err.Error(), "REFUSED") {
		t.Errorf("Create outside the served zones: err = %v, want the server's REFUSED", err)
	}

	// A socket that reads and never answers: every attempt times out.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	mute, err := configure(t, map[string]any{"dns_server": silent.LocalAddr().String()}, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = mute.Lookup(ctx, "host.example.test.", rr.A)
	if err == nil || !strings.Contains(err.Error(), "no answer after 2 attempts") {
		t.Errorf("Lookup against a silent server: err = %v, want a timeout after 2 attempts", err)
	}
}

func TestConfigure(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	os.WriteFile(good, []byte(`key "k" { algorithm hmac-sha256; secret "c2VjcmV0"; };`), 0o600)
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte(`options { };`), 0o600)
	tests := []struct {
		name       string
		values     map[string]any
		wantServer string
		wantAlg    string
		wantErr    string
	}{
		{name: "defaults", values: nil, wantServer: "localhost:53"},
		{name: "host and port", values: map[string]any{"dns_server": "127.0.0.1:5353"}, wantServer: "127.0.0.1:5353"},
		{name: "bare IPv6", values: map[string]any{"dns_server": "::1"}, wantServer: "[::1]:53"},
		{name: "bracketed IPv6 and port", values: map[string]any{"dns_server": "[::1]:5353"}, wantServer: "[::1]:5353"},
		{name: "bad port", values: map[string]any{"dns_server": "ns:99999"}, wantErr: ":dns_server: \"ns:99999\": port must be 1-65535"},
		{name: "key", values: map[string]any{"dns_key": good}, wantServer: "localhost:53", wantAlg: dns.HmacSHA256},
		{name: "algorithm override", values: map[string]any{"dns_key": good, "dns_tsig_algorithm": "hmac-sha512"}, wantServer: "localhost:53", wantAlg: dns.HmacSHA512},
		{name: "unknown algorithm", values: map[string]any{"dns_key": good, "dns_tsig_algorithm": "hmac-md5"}, wantErr: "unsupported TSIG algorithm"},
		{name: "algorithm without key", values: map[string]any{"dns_tsig_algorithm": "hmac-sha256"}, wantErr: "needs :dns_key:"},
		{name: "not a key file", values: map[string]any{"dns_key": bad}, wantErr: `expected "key"`},
		{name: "missing key file", values: map[string]any{"dns_key": filepath.Join(dir, "none.key")}, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := configure(t, tt.values)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.server != tt.wantServer {
				t.Errorf("server = %q, want %q", p.server, tt.wantServer)
			}
			gotAlg := ""
			if p.key != nil {
				gotAlg = p.key.Algorithm
			}
			if gotAlg != tt.wantAlg {
				t.Errorf("algorithm = %q, want %q", gotAlg, tt.wantAlg)
			}
		})
	}
}

// TestBatchedChanges: one message carries several records; a failed prerequisite in
// it falls back to record-by-record so each caller gets its own answer, and two
// changes of one name go in order.
func TestBatchedChanges(t *testing.T) {
	named, p := startBIND(t)
	ctx := context.Background()
	if err := p.Create(ctx, rr.Record{Name: "taken.example.test.", Type: rr.A, Value: "10.99.2.1", TTL: 300}); err != nil {
		t.Fatal(err)
	}
	add := func(name, ip string) *change {
		m, err := rr.AddMessage("example.test.", rr.Record{Name: name, Type: rr.A, Value: ip, TTL: 300})
		if err != nil {
			t.Fatal(err)
		}
		return &change{zone: "example.test.", name: dns.CanonicalName(name), prereq: m.Answer, updates: m.Ns, done: make(chan error, 1)}
	}
	del := func(name string) *change {
		m := rr.DeleteMessage("example.test.", name, rr.A)
		return &change{zone: "example.test.", name: dns.CanonicalName(name), updates: m.Ns, done: make(chan error, 1)}
	}
	batch := []*change{
		add("b1.example.test.", "10.99.2.11"),
		add("b2.example.test.", "10.99.2.12"),
		add("taken.example.test.", "10.99.2.99"), // conflicts
		add("b3.example.test.", "10.99.2.13"),
		del("b1.example.test."), // same name again: after the add
	}
	p.sendBatch(ctx, batch)
	var conflict *rr.ConflictError
	for i, c := range batch {
		err := <-c.done
		if wantConflict := i == 2; wantConflict != errors.As(err, &conflict) || (!wantConflict && err != nil) {
			t.Errorf("change %d (%s): err = %v", i, c.name, err)
		}
	}
	for name, want := range map[string]string{"b1": "", "b2": "10.99.2.12", "b3": "10.99.2.13", "taken": "10.99.2.1"} {
		if got := bindtest.Dig(t, named.Port, name+".example.test", "A"); got != want {
			t.Errorf("dig %s = %q, want %q", name, got, want)
		}
	}

	// Started, concurrent creates all land, each once.
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		go func() {
			errs <- p.Create(ctx, rr.Record{Name: fmt.Sprintf("c%d.example.test.", i), Type: rr.A, Value: fmt.Sprintf("10.99.3.%d", i+1), TTL: 300})
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Errorf("concurrent create: %v", err)
		}
	}
	for _, i := range []int{0, 17, 39} {
		if got := bindtest.Dig(t, named.Port, fmt.Sprintf("c%d.example.test", i), "A"); got != fmt.Sprintf("10.99.3.%d", i+1) {
			t.Errorf("c%d = %q", i, got)
		}
	}
}
