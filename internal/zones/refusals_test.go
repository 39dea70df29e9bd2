package zones

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const revokedName = "revoked.pfs.test" // a Puppet server whose certificate gets revoked

// refusals: what the relays must not let through. A path outside the allow-list is
// 404 at both relays and never reaches the core; a certificate of another CA and a
// revoked one (`smart-proxy ca revoke` rewrites the CRL every process loads) fail the
// handshake; PFS has no way to the core but the relays.
func (s *site) refusals(t *testing.T) {
	t.Helper()
	puppet := s.pki.client(s.z.pfs, puppetIP, s.certs[puppetName])
	probe := fmt.Sprintf("zones-probe-%d", time.Now().UnixNano())
	for _, c := range []struct{ name, url string }{
		{"the PFS proxy", pfsLanURL},
		{"the DMZ relay", dmzFromPFS},
	} {
		for _, path := range []string{"/api/v2/hosts/" + probe, "/api/v2/smart_proxies?" + probe, "/api/v2/hosts/facts/../../../api/v2/users?" + probe} {
			client := puppet
			if c.url == dmzFromPFS {
				client = s.pki.client(s.z.pfs, "", s.certs[pfsName]) // the DMZ relay trusts the PFS proxy
			}
			a, err := do(client, "GET", c.url+path, "", "", nil)
			if err != nil || a.status != 404 {
				t.Fatalf("GET %s at %s: %v %d %s, want 404", path, c.name, err, a.status, a.body)
			}
		}
	}
	if strings.Contains(s.core.log(), probe) {
		t.Fatalf("a path outside the allow-list reached the core (%s in its log)", probe)
	}

	// A certificate of another CA, for the same name as the trusted Puppet server.
	other := newPKI(t, filepath.Join(s.dir, "other-ca"), "Another CA")
	intruder := other.issue(puppetName, puppetIP)
	fake := s.pki.client(s.z.pfs, puppetIP, intruder)
	facts := fmt.Sprintf(`{"name":%q,"facts":{"zones_marker":"intruder"}}`, puppetName)
	if a, err := do(fake, "POST", pfsLanURL+"/api/v2/hosts/facts", "application/json", facts, nil); err == nil {
		t.Fatalf("the PFS relay took a certificate of another CA: %d %s", a.status, a.body)
	} else {
		t.Logf("another CA's certificate at the PFS relay: %v (as wanted)", err)
	}
	fakeRelay := s.pki.client(s.z.pfs, "", other.issue(pfsName, pfsIP))
	if a, err := do(fakeRelay, "POST", dmzFromPFS+"/api/v2/hosts/facts", "application/json", facts, nil); err == nil {
		t.Fatalf("the DMZ relay took a certificate of another CA: %d %s", a.status, a.body)
	}

	// A revoked certificate: accepted before, refused after `ca revoke`.
	revoked := s.pki.client(s.z.pfs, puppetIP, s.certs[revokedName])
	if a, err := do(revoked, "GET", pfsLanURL+"/node/"+puppetName+"?format=yml", "", "", nil); err != nil || a.status != 200 {
		t.Fatalf("ENC with %s before it is revoked: %v %d %s", revokedName, err, a.status, a.body)
	}
	s.pki.run("revoke", revokedName)
	revoked = s.pki.client(s.z.pfs, puppetIP, s.certs[revokedName]) // a new connection: revocation is checked at the handshake
	if a, err := do(revoked, "GET", pfsLanURL+"/node/"+puppetName+"?format=yml", "", "", nil); err == nil {
		t.Fatalf("the PFS relay took a revoked certificate: %d %s", a.status, a.body)
	} else {
		t.Logf("a revoked certificate at the PFS relay: %v (as wanted)", err)
	}
	s.pfs.waitLog("Refused a TLS client: certificate revoked", 30*time.Second)
	// The others, still valid, go on.
	if a, err := do(s.pki.client(s.z.pfs, puppetIP, s.certs[puppetName]), "GET", pfsLanURL+"/node/"+puppetName+"?format=yml", "", "", nil); err != nil || a.status != 200 {
		t.Fatalf("ENC after the revocation of another certificate: %v %d %s", err, a.status, a.body)
	}

	// A revoked relay: once the DMZ relay's certificate is revoked (and it restarted, so
	// no connection from before lingers), the PFS proxy no longer hands it anything: a
	// report posted in PFS is acknowledged, stays queued there and never reaches the core.
	s.pki.run("revoke", dmzName)
	s.dmz.stop()
	s.dmz.start()
	report := fmt.Sprintf(`{"config_report":{"host":%q,"reported_at":%q,"status":{"applied":0,"restarted":0,"failed":0,"failed_restarts":0,"skipped":0,"pending":0},`+
		`"metrics":{"resources":{"total":1},"time":{"total":0.1},"changes":{"total":0},"events":{"total":0}},"logs":[]}}`,
		puppetName, time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	if a, err := do(s.pki.client(s.z.pfs, puppetIP, s.certs[puppetName]), "POST", pfsLanURL+"/api/config_reports", "application/json", report, nil); err != nil || a.status != 201 {
		t.Fatalf("a report with the DMZ relay revoked: %v %d %s", err, a.status, a.body)
	}
	refused := regexp.MustCompile(`Relay: delivering POST /api/config_reports to ` + regexp.QuoteMeta(dmzFromPFS) + ` failed: .*certificate revoked: serial \w+, CN=` + dmzName + `;`)
	waitFor(t, "the PFS proxy refusing the revoked DMZ relay", 30*time.Second, func() bool { return refused.MatchString(s.pfs.log()) })
	t.Logf("the PFS proxy with the DMZ relay revoked: %s", refused.FindString(s.pfs.log()))
	if n := len(s.storedReports()); n != reportCount {
		t.Fatalf("the core has %d reports, want %d: a report went through a revoked relay", n, reportCount)
	}

	// PFS straight to the core: no route through the DMZ, whatever the certificate.
	if err := connectFrom(s.z.pfs, coreIP+":8443", 2*time.Second); err == nil {
		t.Fatal("PFS reached the core directly")
	}
	if a, err := do(puppet, "GET", coreURL+"/node/"+puppetName+"?format=yml", "", "", nil); err == nil {
		t.Fatalf("PFS reached the core's ENC directly: %d", a.status)
	}
}
