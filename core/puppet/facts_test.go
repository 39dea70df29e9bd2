package puppet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/core/store/storetest"
	"github.com/smartproxy/smartproxy/internal/coretest"
	"github.com/smartproxy/smartproxy/internal/testpki"
)

// factsRequest is exchange A of foreman-clients.md §1 as enc.rb sends it, with the
// recorded (trimmed) body.
const factsRequest = `POST /api/hosts/facts HTTP/1.1
Accept-Encoding: gzip;q=1.0,deflate;q=0.6,identity;q=0.3
Accept: */*, application/json,version=2
User-Agent: Ruby
Content-Type: application/json
Host: HOSTPORT
Content-Length: LENGTH
`

const factsBody = `{"facts": {"fqdn": "web01.example.test", "hostname": "web01", "domain": "example.test",
  "clientcert": "web01.example.test", "clientversion": "7.23.0", "clientnoop": false,
  "puppetversion": "7.23.0", "ipaddress": "192.0.2.2", "macaddress": "02:fc:00:00:00:01",
  "operatingsystem": "Debian", "operatingsystemrelease": "12.11", "osfamily": "Debian", "architecture": "amd64",
  "os": {"name": "Debian", "family": "Debian", "release": {"full": "12.11", "major": "12", "minor": "11"}, "…": "…"},
  "networking": {"fqdn": "web01.example.test", "ip": "192.0.2.2", "mac": "02:fc:00:00:00:01", "primary": "eth0", "interfaces": {"…": "…"}},
  "puppetmaster_fqdn": "vm", "…": "…"},
 "name": "web01.example.test", "certname": "web01.example.test"}`

func TestFacts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db storetest.Database) {
		c := newCore(t, db)
		ctx := context.Background()
		// Unknown host: created from the facts, 201 with it.
		created := c.replay(t, &c.Puppet, factsRequest, factsBody).Expect(t, 201)
		if created.JSON["name"] != "web01.example.test" || created.JSON["ip"] != "192.0.2.2" || created.JSON["mac"] != "02:fc:00:00:00:01" {
			t.Fatalf("created %s", created.Body)
		}
		id := created.ID(t)
		stored, _, err := c.Store.Facts(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var facts map[string]any
		json.Unmarshal(stored, &facts)
		if facts["os"].(map[string]any)["release"].(map[string]any)["major"] != "12" || facts["puppetmaster_fqdn"] != "vm" {
			t.Fatalf("stored facts %s", stored)
		}

		for _, prefix := range prefixes {
			// The same host again (by certname, upper case as sent by some clients): replaced.
			again := coretest.Do(t, c.client(t, &c.Puppet, "", ""), "POST", c.URL+prefix+"/hosts/facts", map[string]any{
				"name": "WEB01.example.test", "certname": "web01.example.test", "facts": map[string]any{"uptime": prefix}}).Expect(t, 201)
			if again.ID(t) != id {
				t.Fatalf("second upload made host %d, want %d", again.ID(t), id)
			}
			list := coretest.Do(t, c.User, "GET", fmt.Sprintf("%s%s/hosts/%d/facts", c.URL, prefix, id), nil).Expect(t, 200)
			if got := list.JSON["results"].(map[string]any)["web01.example.test"].(map[string]any); got["uptime"] != prefix || len(got) != 1 {
				t.Fatalf("facts after second upload: %s", list.Body)
			}
		}
		// A user may upload too: Basic, or OAuth as the installer's foreman_host.
		coretest.Do(t, c.User, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "db01.example.test", "facts": map[string]any{}}).Expect(t, 201)
		coretest.Do(t, c.oauthClient(t), "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "proxy.example.test", "facts": map[string]any{}}).Expect(t, 201)
		// Refused: a registered proxy without the Puppet feature, an unregistered name,
		// nobody; a certificate of another CA does not get through TLS as a proxy.
		intruder := c.CA.Issue(t, testpki.Spec{CN: "intruder.example.test", DNSNames: []string{"intruder.example.test"}}).TLS
		foreign := testpki.NewCA(t, "Other CA").Issue(t, testpki.Spec{CN: "puppet.example.test", DNSNames: []string{"puppet.example.test"}}).TLS
		for who, client := range map[string]*http.Client{"proxy without Puppet": c.client(t, &c.Other, "", ""),
			"unregistered name": c.client(t, &intruder, "", ""), "nobody": c.Anon} {
			got := coretest.Do(t, client, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "evil.example.test", "facts": map[string]any{}})
			if got.Status != 403 || !strings.Contains(got.Body, `"message":"Access denied"`) {
				t.Errorf("%s: %d %s", who, got.Status, got.Body)
			}
		}
		req, _ := http.NewRequest("POST", c.URL+"/api/v2/hosts/facts", strings.NewReader(`{"name":"evil.example.test","facts":{}}`))
		if resp, err := c.client(t, &foreign, "", "").Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 403 {
				t.Errorf("certificate of another CA: %d", resp.StatusCode)
			}
		}
		if _, err := c.Store.HostByName(ctx, "evil.example.test"); err != store.ErrNotFound {
			t.Fatalf("a refused upload created a host: %v", err)
		}

		// Import problems are 422 {"message"}; a body that is not JSON is 400.
		puppetClient := c.client(t, &c.Puppet, "", "")
		coretest.Do(t, puppetClient, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"facts": map[string]any{}}).ExpectMessage(t, 422, "Invalid Hostname, must be a String")
		coretest.Do(t, puppetClient, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "bad name!", "facts": map[string]any{}}).ExpectMessage(t, 422, `Invalid Hostname "bad name!"`)
		coretest.Do(t, puppetClient, "POST", c.URL+"/api/v2/hosts/facts", map[string]any{"name": "y.example.test", "facts": []int{1}}).ExpectMessage(t, 422, "Invalid facts: must be a JSON object")
		coretest.Do(t, puppetClient, "POST", c.URL+"/api/v2/hosts/facts", `{"name":`).Expect(t, 400)
		coretest.Do(t, puppetClient, "POST", c.URL+"/api/v2/hosts/facts", `{"name": 5, "facts": {}}`).Expect(t, 422)

		// A host in build takes no facts.
		coretest.Do(t, c.User, "PUT", fmt.Sprintf("%s/api/v2/hosts/%d", c.URL, id), map[string]any{"host": map[string]any{"build": true}}).Expect(t, 200)
		c.replay(t, &c.Puppet, factsRequest, factsBody).ExpectMessage(t, 422, "Host is pending for Build")

		coretest.Do(t, c.User, "GET", c.URL+"/api/v2/hosts/nope/facts", nil).ExpectFull(t, 404, "Resource host not found by id 'nope'")
		if empty := coretest.Do(t, c.User, "GET", c.URL+"/api/v2/hosts/db01.example.test/facts", nil).Expect(t, 200); empty.JSON["total"] != 0.0 {
			t.Fatalf("db01 facts: %s", empty.Body)
		}
	})
}

func TestFactsDoNotCreateHostsWhenOff(t *testing.T) {
	c := newCore(t, storetest.SQLite(t), func(o *puppet.Options) { o.CreateHostsFromFacts = false })
	c.replay(t, &c.Puppet, factsRequest, factsBody).ExpectMessage(t, 422,
		"Host web01.example.test not found and create_new_host_when_facts_are_uploaded is off")
	coretest.Do(t, c.User, "POST", c.URL+"/api/v2/hosts", map[string]any{"host": map[string]any{"name": "web01.example.test"}}).Expect(t, 201)
	if a := c.replay(t, &c.Puppet, factsRequest, factsBody).Expect(t, 201); !strings.HasPrefix(a.ContentType, "application/json") {
		t.Fatalf("content type %s", a.ContentType)
	}
}
