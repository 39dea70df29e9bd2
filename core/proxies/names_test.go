package proxies

import "testing"

func TestNormaliseFeature(t *testing.T) {
	for proxyName, want := range map[string]string{
		"puppetca": "Puppet CA", "httpboot": "HTTPBoot", "externalipam": "External IPAM", "tftp": "TFTP",
		"dns": "DNS", "dhcp": "DHCP", "logs": "Logs", "templates": "Templates", "registration": "Registration",
		"puppet": "Puppet", "bmc": "BMC", "realm": "Realm", "facts": "Facts", "Puppet CA": "Puppet CA",
		"PUPPET\tca": "Puppet CA", "script": "Script", "dynflow": "Dynflow", "ansible": "Ansible", "openscap": "Openscap",
	} {
		if got, ok := NormaliseFeature(proxyName); !ok || got != want {
			t.Errorf("NormaliseFeature(%q) = %q, %v; want %q", proxyName, got, ok, want)
		}
	}
	for _, unknown := range []string{"", "foo", "puppet_ca", "puppet-ca", "dhcp_isc"} {
		if got, ok := NormaliseFeature(unknown); ok {
			t.Errorf("NormaliseFeature(%q) = %q, want unknown", unknown, got)
		}
	}
}
