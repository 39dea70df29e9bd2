package etcdstate

import (
	"strings"
	"testing"
	"time"

	"github.com/smartproxy/smartproxy/settings"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		yaml, wantErr string
	}{
		{"", ""},
		{":state_backend: journal\n", ""},
		{":state_backend: zookeeper\n", `:state_backend: must be "journal" or "etcd", got "zookeeper"`},
		{":state_backend: etcd\n", ":etcd_endpoints: must list the etcd client URLs"},
		{":state_backend: etcd\n:etcd_endpoints: [127.0.0.1:2379]\n", `"127.0.0.1:2379" must start with http:// or https://`},
		{":state_backend: etcd\n:etcd_endpoints: [http://127.0.0.1:2379]\n:etcd_prefix: sp\n", ":etcd_prefix: must start with /"},
		{":state_backend: etcd\n:etcd_endpoints: [http://127.0.0.1:2379]\n:etcd_timeout: 0\n", ":etcd_timeout: must be a positive number of seconds"},
		{":state_backend: etcd\n:etcd_endpoints: [http://127.0.0.1:2379]\n:etcd_cert: /nonexistent.pem\n", ":etcd_cert: names a file that cannot be read"},
	} {
		s, err := settings.Parse("dhcp_embedded.yml", []byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		c := Parse(s)
		err = s.Err()
		if tc.wantErr == "" {
			if err != nil || c.Etcd() {
				t.Fatalf("%q: %v, etcd %v", tc.yaml, err, c.Etcd())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Fatalf("%q: error %v, want %q", tc.yaml, err, tc.wantErr)
		}
	}
	s, _ := settings.Parse("x.yml", []byte(":state_backend: etcd\n:etcd_endpoints: [http://127.0.0.1:2379]\n:etcd_prefix: /zone-a\n"))
	c := Parse(s)
	if s.Err() != nil || !c.Etcd() || c.Prefix != "/zone-a/" || c.Timeout != 3*time.Second {
		t.Fatalf("%+v %v", c, s.Err())
	}
}
