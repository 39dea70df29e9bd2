package zones

import (
	"fmt"
	"path/filepath"
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
	s.pfs.waitLog("Refused a TLS client: certificate revoked", 5*time.Second)
	// The others, still valid, go on.
	if a, err := do(s.pki.client(s.z.pfs, puppetIP, s.certs[puppetName]), "GET", pfsLanURL+"/node/"+puppetName+"?format=yml", "", "", nil); err != nil || a.status != 200 {
		t.Fatalf("ENC after the revocation of another certificate: %v %d %s", err, a.status, a.body)
	}

	// PFS straight to the core: no route through the DMZ, whatever the certificate.
	if err := connectFrom(s.z.pfs, coreIP+":8443", 2*time.Second); err == nil {
		t.Fatal("PFS reached the core directly")
	}
	if a, err := do(puppet, "GET", coreURL+"/node/"+puppetName+"?format=yml", "", "", nil); err == nil {
		t.Fatalf("PFS reached the core's ENC directly: %d", a.status)
	}
}
