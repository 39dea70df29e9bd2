package puppetca

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/internal/etcdtest"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

func etcdYAML(c *etcdtest.Cluster) string {
	return fmt.Sprintf(":state_backend: etcd\n:etcd_endpoints: [%s]\n:etcd_ca: %s\n:etcd_cert: %s\n:etcd_key: %s\n:etcd_prefix: /caha/\n:etcd_timeout: 2\n",
		strings.Join(c.Endpoints(), ", "), c.CA.CAFile, c.Client.CertFile, c.Client.KeyFile)
}

// waitUntil polls cond for up to 30 s (generous for a loaded machine; the time
// taken is what the tests log) and returns how long it took.
func waitUntil(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// Tokens issued through one proxy validate once through any proxy: concurrent
// validations of one token on two nodes sign exactly once; without quorum issuing
// and validating answer 503 (the CSR stays pending) and the list is still served.
func TestTokensOnEtcdSharedAndSpentOnce(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	key := writeRSAKey(t, t.TempDir()) // every node signs with the same key
	conf := map[string]string{"puppetca_token_whitelisting.yml": ":tokens_file: $DIR/state/tokens.yml\n:certificate: " + key + "\n" + etcdYAML(cluster)}
	a, b := start(t, tokenProvider, conf), start(t, tokenProvider, conf)
	for _, fx := range []*fixture{a, b} {
		if s := fx.proxy.State("puppetca"); s != "running" {
			t.Fatalf("puppetca is %s", s)
		}
	}

	token := a.newToken(t, "host1.example.com", nil)
	took := waitUntil(t, "B lists A's token", func() bool {
		return strings.Contains(b.do(t, http.MethodGet, "/puppet/ca/autosign", nil).Body, "host1.example.com")
	})
	t.Logf("token issued through A listed by B within %s", took)
	csr := makeCSR(t, "host1.example.com", token)
	if got := b.validate(t, csr, ""); got != 200 {
		t.Fatalf("validate A's token on B = %d, want 200", got)
	}
	if got := a.validate(t, csr, ""); got != 404 {
		t.Fatalf("the spent token validated again on A: %d", got)
	}

	// Validated at once on both nodes, 10 tokens: each signs exactly once.
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("race%d.example.com", i)
		csr := makeCSR(t, name, a.newToken(t, name, nil))
		results := make(chan int, 2)
		for _, fx := range []*fixture{a, b} {
			go func() { results <- fx.validate(t, csr, "") }()
		}
		r1, r2 := <-results, <-results
		if (r1 == 200) == (r2 == 200) || r1+r2 != 200+404 {
			t.Fatalf("%s validated on both nodes at once: %d and %d, want one 200 and one 404", name, r1, r2)
		}
	}

	// Removing through B revokes on A.
	other := b.newToken(t, "host2.example.com", nil)
	expect(t, a.do(t, http.MethodDelete, "/puppet/ca/autosign/host2.example.com", nil), 200, "")
	if got := b.validate(t, makeCSR(t, "host2.example.com", other), ""); got != 404 {
		t.Fatalf("a removed token validated: %d", got)
	}

	// Quorum lost.
	pending := a.newToken(t, "host3.example.com", nil)
	waitUntil(t, "B lists host3", func() bool {
		return strings.Contains(b.do(t, http.MethodGet, "/puppet/ca/autosign", nil).Body, "host3.example.com")
	})
	cluster.Members[1].Kill()
	cluster.Members[2].Kill()
	expectPrefix(t, a.do(t, http.MethodPost, "/puppet/ca/autosign/host4.example.com", nil), 503, "Failed to enable autosign for host4.example.com: etcd is unavailable")
	if got := b.validate(t, makeCSR(t, "host3.example.com", pending), ""); got != 503 {
		t.Fatalf("validate without quorum = %d, want 503", got)
	}
	proxytest.ExpectJSON(t, b.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["host3.example.com"]`)

	// Quorum back: the token that could not be spent validates once.
	cluster.Members[1].Restart(t)
	cluster.Members[2].Restart(t)
	cluster.WaitHealthy(30 * time.Second)
	csr3 := makeCSR(t, "host3.example.com", pending)
	if got := b.validate(t, csr3, ""); got != 200 {
		t.Fatalf("validate after quorum returned = %d", got)
	}
	if got := a.validate(t, csr3, ""); got != 404 {
		t.Fatalf("spent again: %d", got)
	}
}

// Hostname autosign entries added through one node land in every node's autosign
// file; removed through another, they leave every file, also one of a node that
// was down meanwhile.
func TestHostnameEntriesOnEtcd(t *testing.T) {
	cluster := etcdtest.Start(t, 3)
	conf := map[string]string{"puppetca_hostname_whitelisting.yml": ":autosignfile: $DIR/autosign.conf\n" + etcdYAML(cluster)}
	a, b := start(t, hostnameProvider, conf), start(t, hostnameProvider, conf)
	fileOf := func(fx *fixture) string {
		data, _ := os.ReadFile(filepath.Join(fx.dir, "autosign.conf"))
		return string(data)
	}
	expect(t, a.do(t, http.MethodPost, "/puppet/ca/autosign/web1.example.com", nil), 200, "")
	took := waitUntil(t, "web1 in B's autosign.conf", func() bool { return fileOf(b) == "web1.example.com\n" })
	t.Logf("entry added through A in B's autosign.conf within %s", took)
	proxytest.ExpectJSON(t, b.do(t, http.MethodGet, "/puppet/ca/autosign", nil), `["web1.example.com"]`)
	expect(t, b.do(t, http.MethodPost, "/puppet/ca/autosign/web2.example.com", nil), 200, "")
	waitUntil(t, "web2 in A's file", func() bool { return strings.Contains(fileOf(a), "web2.example.com\n") })

	expect(t, b.do(t, http.MethodDelete, "/puppet/ca/autosign/web1.example.com", nil), 200, "")
	waitUntil(t, "web1 gone from A's file", func() bool { return fileOf(a) == "web2.example.com\n" })
	expectPrefix(t, a.do(t, http.MethodDelete, "/puppet/ca/autosign/web1.example.com", nil), 404, "Attempt to remove nonexistent client autosign for web1.example.com")

	// A node down while an entry is removed loses it when it comes back.
	cFile := filepath.Join(t.TempDir(), "autosign.conf")
	cConf := map[string]string{"puppetca_hostname_whitelisting.yml": ":autosignfile: " + cFile + "\n" + etcdYAML(cluster)}
	c := start(t, hostnameProvider, cConf)
	read := func() string { data, _ := os.ReadFile(cFile); return string(data) }
	if got := read(); got != "web2.example.com\n" {
		t.Fatalf("a new node's file = %q, want the shared entry", got)
	}
	c.proxy.Registry.Stop(t.Context())
	expect(t, b.do(t, http.MethodDelete, "/puppet/ca/autosign/web2.example.com", nil), 200, "")
	expect(t, b.do(t, http.MethodPost, "/puppet/ca/autosign/web3.example.com", nil), 200, "")
	start(t, hostnameProvider, cConf)
	if got := read(); got != "web3.example.com\n" {
		t.Fatalf("after its restart the node's file = %q, want only web3", got)
	}
}
