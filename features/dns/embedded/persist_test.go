package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

func stop(t *testing.T, p *Provider) {
	t.Helper()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func startErr(t *testing.T, dir string) error {
	t.Helper()
	p, err := configured(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		return err
	}
	stop(t, p)
	return nil
}

func TestRecordsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	p, err := configured(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "a.example.test", rr.A, "10.99.0.1")
	mustCreate(t, p, "b.example.test", rr.A, "10.99.0.2")
	mustCreate(t, p, "1.0.99.10.in-addr.arpa", rr.PTR, "a.example.test.")
	if err := p.Delete(context.Background(), "b.example.test.", rr.A); err != nil {
		t.Fatal(err)
	}
	stop(t, p)

	// A crash in the middle of an append leaves half a line: it was never acknowledged.
	journal := filepath.Join(dir, journalFile)
	f, err := os.OpenFile(journal, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"zone":"example.test.","serial":9,"add":["c.exa`)
	f.Close()

	again := started(t, dir)
	r := query(t, again.Addr(), "udp", "a.example.test.", dns.TypeA, false)
	if len(r.Answer) != 1 || rdata(r.Answer[0]) != "10.99.0.1" {
		t.Errorf("a after restart: %v", r.Answer)
	}
	if r := query(t, again.Addr(), "udp", "b.example.test.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("deleted b came back: %v", r)
	}
	if r := query(t, again.Addr(), "udp", "1.0.99.10.in-addr.arpa.", dns.TypePTR, false); len(r.Answer) != 1 {
		t.Errorf("PTR after restart: %v", r.Answer)
	}
	if r := query(t, again.Addr(), "udp", "c.example.test.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("the half-written entry was applied: %v", r)
	}
	soa := query(t, again.Addr(), "udp", "example.test.", dns.TypeSOA, false).Answer[0].(*dns.SOA)
	if soa.Serial != 4 {
		t.Errorf("serial after restart %d, want 4 (three changes to example.test)", soa.Serial)
	}
	if info, err := os.Stat(journal); err != nil || info.Size() != 0 {
		t.Errorf("journal not compacted at start: %v, %v", info, err)
	}
}

func TestStateDirGuards(t *testing.T) {
	dir := t.TempDir()
	started(t, dir)
	if err := startErr(t, dir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second provider on the same state dir: %v", err)
	}

	corrupt := t.TempDir()
	content := `{"zone":"example.test.","serial":2,"add":["a.example.test. 300 IN A 10.99.0.1"]}` + "\n" +
		"not json\n" +
		`{"zone":"example.test.","serial":3,"add":["b.example.test. 300 IN A 10.99.0.2"]}` + "\n"
	if err := os.WriteFile(filepath.Join(corrupt, journalFile), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startErr(t, corrupt); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("journal corrupt in the middle: %v, want a refusal to start", err)
	}
}

// TestDormantZoneKept: records of a zone dropped from the configuration are kept, and
// served again when the zone comes back.
func TestDormantZoneKept(t *testing.T) {
	dir := t.TempDir()
	p := started(t, dir)
	mustCreate(t, p, "7.0.99.10.in-addr.arpa", rr.PTR, "h.example.test.")
	stop(t, p)

	onlyForward := New()
	sec := settings.NewSection("dns_embedded.yml", map[string]any{"listen": "127.0.0.1:0", "state_dir": dir, "zones": []any{"example.test"}})
	if err := errors.Join(onlyForward.Configure(&registry.Env{Settings: sec, Log: testLog()}), sec.Err()); err != nil {
		t.Fatal(err)
	}
	if err := onlyForward.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := query(t, onlyForward.Addr(), "udp", "7.0.99.10.in-addr.arpa.", dns.TypePTR, false); r.Rcode != dns.RcodeRefused {
		t.Errorf("unconfigured zone still served: %v", r)
	}
	stop(t, onlyForward)

	back := started(t, dir)
	if r := query(t, back.Addr(), "udp", "7.0.99.10.in-addr.arpa.", dns.TypePTR, false); len(r.Answer) != 1 {
		t.Errorf("PTR lost while its zone was not configured: %v", r)
	}
}

func TestNotStarted(t *testing.T) {
	p, err := configured(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Lookup(ctx, "a.example.test.", rr.A); err != errNotRunning {
		t.Errorf("Lookup before Start: %v", err)
	}
	if err := p.Create(ctx, rr.Record{Name: "a.example.test.", Type: rr.A, Value: "10.0.0.1", TTL: 1}); err != errNotRunning {
		t.Errorf("Create before Start: %v", err)
	}
	if err := p.Delete(ctx, "a.example.test.", rr.A); err != errNotRunning {
		t.Errorf("Delete before Start: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}
